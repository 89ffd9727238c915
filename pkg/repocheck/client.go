package repocheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultTimeout bounds one check when NewClient is given none. It is
// longer than ServeTimeout, so a slow gh is reported by the github service
// (with gh's reason) rather than as silence.
const DefaultTimeout = 30 * time.Second

// reply is what travels back on the reply subject: a Result, or why none
// could be had.
type reply struct {
	Result      *Result `json:"result,omitempty"`
	Unavailable string  `json:"unavailable,omitempty"` // gh or GitHub failed; already redacted
}

// Client asks the github service about repositories. Safe for concurrent
// use.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
}

// NewClient returns a client that waits at most timeout (DefaultTimeout
// when zero or less) for an answer.
func NewClient(nc *nats.Conn, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{nc: nc, timeout: timeout}
}

// Verify asks whether repositoryURL is accessible with the github
// service's credentials. A repository that does not exist or cannot be
// seen is a Result with Accessible false; an error wrapping ErrUnavailable
// means nobody could tell (no github service, no answer in time, gh or
// GitHub failing). An error that does not wrap it is ctx ending.
func (c *Client) Verify(ctx context.Context, repositoryURL string) (Result, error) {
	if c == nil || c.nc == nil {
		return Result{}, fmt.Errorf("%w: no NATS connection to reach the github service", ErrUnavailable)
	}
	data, err := json.Marshal(Request{RepositoryURL: repositoryURL})
	if err != nil {
		return Result{}, fmt.Errorf("encoding the repository check: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(rctx, Subject, data)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return Result{}, fmt.Errorf("checking repository access: %w", ctx.Err())
	case errors.Is(err, nats.ErrNoResponders):
		return Result{}, fmt.Errorf("%w: no github service is running to check repository access", ErrUnavailable)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return Result{}, fmt.Errorf("%w: the github service did not answer within %s", ErrUnavailable, c.timeout)
	default:
		return Result{}, fmt.Errorf("%w: asking the github service: %v", ErrUnavailable, err)
	}
	var r reply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return Result{}, fmt.Errorf("%w: unreadable answer from the github service: %v", ErrUnavailable, err)
	}
	if r.Unavailable != "" || r.Result == nil {
		reason := r.Unavailable
		if reason == "" {
			reason = "the github service answered without a result"
		}
		return Result{}, fmt.Errorf("%w: %s", ErrUnavailable, reason)
	}
	return *r.Result, nil
}
