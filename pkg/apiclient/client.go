// Package apiclient is a small typed client of the gateway's REST API
// (docs/api.md), for the `awo` command line and any Go program that
// drives work orders over HTTP rather than NATS. It depends on nothing
// but the standard library, so a client never pulls the server in.
//
// Every call takes a context; calls that are not streams are also bounded
// by Client.Timeout. Each typed call returns the decoded answer and the
// API's JSON as received, so a caller can print it unchanged.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultURL is the gateway's default address (AGENT_WORK_ORDERS_HOST and
// AGENT_WORK_ORDERS_PORT left unset).
const DefaultURL = "http://127.0.0.1:8053"

// DefaultTimeout bounds a call that is not a stream.
const DefaultTimeout = 30 * time.Second

// maxBody caps what is read of one answer: a list of 1,000 work orders is
// far below it, a misdirected URL serving something huge is not.
const maxBody = 64 << 20

// Client talks to one gateway.
type Client struct {
	// BaseURL is the gateway's root, e.g. http://127.0.0.1:8053.
	BaseURL string
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// HTTP sends the requests; its own Timeout should be zero, since log
	// streams run for as long as a work order does.
	HTTP *http.Client
	// Timeout bounds every call but the streams; zero means none.
	Timeout time.Duration
}

// New returns a client of the gateway at baseURL (DefaultURL when empty).
func New(baseURL, token string) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultURL
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway URL %q: want http(s)://host:port", baseURL)
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token,
		HTTP: &http.Client{}, Timeout: DefaultTimeout}, nil
}

// Error is an answer outside 2xx: Detail is the API's {"detail": ...}
// (or the body's start when it has none).
type Error struct {
	Status int
	Detail string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// call is one request: the JSON body (nil for none), extra headers.
type call struct {
	method, path string
	query        url.Values
	body         any
	header       http.Header
}

// do sends c and decodes a 2xx answer into out (when not nil), returning
// the body as received.
func (cl *Client) do(ctx context.Context, c call, out any) (json.RawMessage, error) {
	if cl.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cl.Timeout)
		defer cancel()
	}
	resp, err := cl.send(ctx, c)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", c.method, c.path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &Error{Status: resp.StatusCode, Detail: detail(body)}
	}
	if out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return nil, fmt.Errorf("%s %s: decoding the answer: %w", c.method, c.path, err)
		}
	}
	return body, nil
}

// send builds and sends the request; the caller closes the body.
func (cl *Client) send(ctx context.Context, c call) (*http.Response, error) {
	u := cl.BaseURL + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	var body io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding the request: %w", c.method, c.path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.method, c.path, err)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if cl.Token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.Token)
	}
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		// The URL is named, the token is not part of it.
		return nil, fmt.Errorf("%s %s: %w", c.method, u, unwrapURLError(err))
	}
	return resp, nil
}

// unwrapURLError drops *url.Error's own "Get "url":" prefix, which send
// already gives.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// detail is the API's "detail" as text: a string as is, anything else
// (a list of field errors) as compact JSON; without one, the body's start.
func detail(body []byte) string {
	var p struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &p) == nil && len(p.Detail) > 0 {
		var s string
		if json.Unmarshal(p.Detail, &s) == nil {
			return s
		}
		return string(p.Detail)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "(no detail)"
	}
	return s
}

// workOrderPath is /api/agent-work-orders/{id}{suffix}, the id escaped.
func workOrderPath(id, suffix string) string {
	return "/api/agent-work-orders/" + url.PathEscape(id) + suffix
}
