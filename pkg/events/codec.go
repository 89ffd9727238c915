package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// ErrUnknownType is returned by Decode for a type outside the catalogue.
// Consumers log and skip such events rather than crash: newer producers may
// publish types this build does not know yet.
var ErrUnknownType = errors.New("unknown event type")

// Header names of the CloudEvents NATS binding in binary content mode.
const (
	headerPrefix      = "ce-"
	headerContentType = "content-type"
	headerMsgID       = nats.MsgIdHdr // JetStream de-duplication key
	extTraceParent    = "traceparent"
	contentTypeJSON   = "application/json"
)

// Encode renders e as a NATS message in CloudEvents binary mode: attributes
// in percent-encoded ce-* headers, the JSON payload as the body, and the
// event id as Nats-Msg-Id so a re-publish inside the duplicate window is
// dropped by JetStream.
func Encode(e Event, subject string) (*nats.Msg, error) {
	ce, err := cloudEvent(e)
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(subject)
	h := msg.Header
	h.Set(headerPrefix+"specversion", ce.SpecVersion())
	h.Set(headerPrefix+"id", percentEncode(ce.ID()))
	h.Set(headerPrefix+"type", percentEncode(ce.Type()))
	h.Set(headerPrefix+"source", percentEncode(ce.Source()))
	if ce.Subject() != "" {
		h.Set(headerPrefix+"subject", percentEncode(ce.Subject()))
	}
	h.Set(headerPrefix+"time", ce.Time().UTC().Format(time.RFC3339Nano))
	for name, v := range ce.Extensions() {
		h.Set(headerPrefix+name, percentEncode(fmt.Sprint(v)))
	}
	h.Set(headerContentType, contentTypeJSON)
	h.Set(headerMsgID, ce.ID())
	msg.Data = ce.Data()
	return msg, nil
}

// cloudEvent is e with its attributes and JSON payload, validated.
func cloudEvent(e Event) (cloudevents.Event, error) {
	ce := cloudevents.New(cloudevents.CloudEventsVersionV1)
	ce.SetID(e.ID)
	ce.SetType(e.Type)
	ce.SetSource(e.Source)
	ce.SetSubject(string(e.WorkOrderID))
	ce.SetTime(e.Time)
	if e.TraceParent != "" {
		ce.SetExtension(extTraceParent, e.TraceParent)
	}
	if err := ce.SetData(contentTypeJSON, e.Data); err != nil {
		return ce, fmt.Errorf("encoding %s data: %w", e.Type, err)
	}
	if err := ce.Validate(); err != nil {
		return ce, fmt.Errorf("encoding %s: %w", e.Type, err)
	}
	return ce, nil
}

// EncodeJSON renders e in the CloudEvents JSON format (structured mode):
// one object with specversion, id, source, type, subject, time,
// datacontenttype and the payload inline as data, for clients that read
// events over HTTP rather than NATS.
func EncodeJSON(e Event) ([]byte, error) {
	ce, err := cloudEvent(e)
	if err != nil {
		return nil, err
	}
	b, err := ce.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding %s as JSON: %w", e.Type, err)
	}
	return b, nil
}

// WorkOrderOf is the work-order id a CloudEvents binary-mode message names
// (its ce-subject header), read without decoding the rest: "" when it names
// none or the header is not percent-encoded text. Routing a delivery by
// work order needs only this; a whole Decode of the headers for it was 1 %
// of the pipeline's CPU.
func WorkOrderOf(header nats.Header) workorder.ID {
	key := headerPrefix + "subject"
	vs, ok := header[key]
	if !ok {
		for k, v := range header {
			if strings.EqualFold(k, key) {
				vs, ok = v, true
				break
			}
		}
	}
	if !ok || len(vs) == 0 {
		return ""
	}
	v, err := percentDecode(vs[0])
	if err != nil {
		return ""
	}
	return workorder.ID(v)
}

// Decode parses a CloudEvents binary-mode NATS message. Header names are
// matched case-insensitively, values percent-decoded. The payload is
// unmarshalled into the catalogue type registered for ce-type.
func Decode(header nats.Header, data []byte) (Event, error) {
	attrs := make(map[string]string, len(header))
	for k, vs := range header {
		lk := strings.ToLower(k)
		if len(vs) == 0 {
			continue
		}
		if lk == headerContentType {
			attrs[lk] = vs[0]
			continue
		}
		if strings.HasPrefix(lk, headerPrefix) {
			v, err := percentDecode(vs[0])
			if err != nil {
				return Event{}, fmt.Errorf("decoding header %s: %w", k, err)
			}
			attrs[strings.TrimPrefix(lk, headerPrefix)] = v
		}
	}
	if sv := attrs["specversion"]; sv != cloudevents.CloudEventsVersionV1 {
		return Event{}, fmt.Errorf("not a CloudEvents 1.0 message (ce-specversion %q)", sv)
	}
	e := Event{
		ID:          attrs["id"],
		Type:        attrs["type"],
		Source:      attrs["source"],
		WorkOrderID: workorder.ID(attrs["subject"]),
		TraceParent: attrs[extTraceParent],
	}
	if e.ID == "" || e.Type == "" || e.Source == "" {
		return Event{}, errors.New("CloudEvent lacks a required attribute (ce-id, ce-type, ce-source)")
	}
	if ts := attrs["time"]; ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Event{}, fmt.Errorf("decoding ce-time %q: %w", ts, err)
		}
		e.Time = t
	}
	ctor, ok := registry[e.Type]
	if !ok {
		return e, fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	if ct := attrs[headerContentType]; ct != "" && !strings.HasPrefix(ct, contentTypeJSON) {
		return e, fmt.Errorf("decoding %s: unsupported content-type %q", e.Type, ct)
	}
	payload := ctor()
	if len(data) > 0 {
		if err := json.Unmarshal(data, payload); err != nil {
			return e, fmt.Errorf("decoding %s data: %w", e.Type, err)
		}
	}
	e.Data = payload
	return e, nil
}

// percentEncode escapes what the CloudEvents bindings require: space, '"',
// '%' and anything outside printable ASCII, byte by byte over UTF-8.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || c == '"' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func percentDecode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated percent-escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad percent-escape in %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}
