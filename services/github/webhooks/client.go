package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/textcut"
)

// ContentType is the structured-mode CloudEvents media type.
const ContentType = "application/cloudevents+json"

// Standard Webhooks header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign is the Standard Webhooks signature of body sent as message id at
// unix time ts: "v1," and the base64 of HMAC-SHA256(key, id.ts.body).
func Sign(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// result is what one attempt came to: err nil when the receiver accepted
// the event; else whether trying again is pointless, and how long the
// receiver asked to be left alone.
type result struct {
	err        error
	permanent  bool
	retryAfter time.Duration
}

// post makes one attempt to deliver body, the event id's CloudEvent.
func (t *target) post(ctx context.Context, id string, body []byte) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return result{err: fmt.Errorf("building the request to %s: %w", t.shown, unwrapURL(err)), permanent: true}
	}
	// A new timestamp for every attempt: receivers refuse old ones (the
	// libraries allow five minutes), and a retry may come hours later.
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set("User-Agent", "awo-webhooks/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(t.s.o.Config.Key, id, ts, body))
	resp, err := t.client.Do(req)
	if err != nil {
		err = unwrapURL(err)
		var pe *privateAddrError
		if errors.As(err, &pe) {
			return result{err: fmt.Errorf("%s: %w", t.host, err), permanent: true}
		}
		return result{err: fmt.Errorf("posting to %s: %w", t.host, err)}
	}
	defer resp.Body.Close()
	// The answer is read only for the reason of a refusal; the rest is
	// drained so the connection can be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return result{}
	}
	err = fmt.Errorf("%s answered %s%s", t.host, resp.Status, answerText(snippet))
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return result{err: err, retryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	case code >= 300 && code < 400:
		return result{err: fmt.Errorf("%w (redirects are not followed: configure the final URL)", err), permanent: true}
	}
	return result{err: err, permanent: true}
}

func answerText(b []byte) string {
	s := strings.TrimSpace(oneLine(string(b)))
	if s == "" {
		return ""
	}
	return ": " + textcut.Bytes(s, 200, "…")
}

// unwrapURL drops the *url.Error layer: its message quotes the whole URL,
// which may hold credentials.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("no answer within AWO_WEBHOOK_TIMEOUT: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// retryAfter reads a Retry-After header, seconds or an HTTP date; 0 when
// absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// privateAddrError refuses a connection to an address on the local
// machine or network.
type privateAddrError struct {
	addr netip.Addr
	kind string
}

func (e *privateAddrError) Error() string {
	return fmt.Sprintf("resolves to %s, a %s address; set AWO_WEBHOOK_ALLOW_PRIVATE=true to send webhooks inside your network", e.addr, e.kind)
}

// newClient makes the HTTP client of every receiver. Unless private
// targets are allowed, its dialer checks the address each connection is
// about to be made to, after name resolution: a name that resolved to a
// public address at start and to 127.0.0.1 now (DNS rebinding) is
// refused too. No proxy from the environment is used: it would connect
// in awo's place, past that check. Redirects are not followed, for the
// same reason.
func newClient(timeout time.Duration, allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			a, err := netip.ParseAddr(host)
			if err != nil {
				return err
			}
			if kind := repourl.AddrKind(a); kind != "" {
				return &privateAddrError{addr: a, kind: kind}
			}
			return nil
		}
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
