package bus

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/redact"
)

// DeadLetter copies a message read outside Consume (by an ordered
// consumer, which has nothing to ack or terminate) to WORKORDERS_DLQ with
// the same Awo-Dlq-* headers Consume adds: the reason, the consumer, the
// original subject and stream sequence. The projector uses it for events
// the read store refuses.
//
// Unlike Consume's copies, these carry a message id made of the consumer
// and the sequence, so that several replicas (or a restart) refusing the
// same event within the DLQ's duplicate window store one copy.
func DeadLetter(ctx context.Context, js jetstream.JetStream, consumer string, msg jetstream.Msg, seq uint64, cause error) error {
	dl := DLQCopy(consumer, msg.Subject(), msg.Headers(), msg.Data(), cause, 1, seq)
	// A header value cannot hold a line break; a reason quoting the
	// event's content might.
	dl.Header.Set(HeaderDLQError, oneLine(dl.Header.Get(HeaderDLQError)))
	dl.Header.Set(nats.MsgIdHdr, consumer+"."+strconv.FormatUint(seq, 10))
	if _, err := PublishRetrying(ctx, js, dl); err != nil {
		return fmt.Errorf("dead-lettering %s at seq %d: %w", msg.Subject(), seq, err)
	}
	return nil
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// DLQCopy is the dead-letter copy of a message consumer could not
// process: its headers and data, plus why, how often it was delivered and
// where it was stored.
func DLQCopy(consumer, subject string, hdr nats.Header, data []byte, cause error, delivered int, seq uint64) *nats.Msg {
	dl := nats.NewMsg(DLQSubject(consumer, subject))
	for k, vs := range hdr {
		// Nats-Msg-Id: the DLQ keeps every failure, even of the same
		// message. The other Nats-* headers are the server's (a direct get
		// adds the stream, sequence and time) or publish directives.
		if strings.HasPrefix(k, "Nats-") {
			continue
		}
		dl.Header[k] = vs
	}
	// The process-wide redactor: the cause may quote what failed (an
	// error naming a URL), and dead letters are NATS messages like any.
	dl.Header.Set(HeaderDLQError, redact.Default().String(cause.Error()))
	dl.Header.Set(HeaderDLQConsumer, consumer)
	dl.Header.Set(HeaderDLQDelivered, strconv.Itoa(delivered))
	dl.Header.Set(HeaderDLQSubject, subject)
	dl.Header.Set(HeaderDLQSequence, strconv.FormatUint(seq, 10))
	dl.Data = data
	return dl
}
