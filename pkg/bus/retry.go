package bus

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrUnavailable means JetStream kept failing for a passing reason (a
// stream or meta leader election, a reconnect to another cluster member)
// until the retry bound or the caller's deadline: nothing is known to be
// stored, and trying again shortly with the same ids is safe. The gateway
// answers it with 503 and Retry-After.
var ErrUnavailable = errors.New("JetStream temporarily unavailable")

// Retries of a publish or key-value write that failed for a passing
// reason. An election on a 3-node cluster takes a few seconds after its
// leader is lost (JetStream's Raft election timeout is 4-9 s when the
// leader dies without handing over), so the bound covers one election;
// each attempt waits at most attemptTimeout for the stream's answer, so a
// request sent to a leader that is gone is sent again to the next one
// without waiting JetStream's default 5 s. A healthy append is answered in
// milliseconds; one slower than that and sent again is harmless (see
// Bus.publish and RetryingKV).
const (
	RetryBound     = 10 * time.Second
	retryFirst     = 50 * time.Millisecond
	retryMax       = time.Second
	attemptTimeout = time.Second
)

// retries counts the attempts retryTransient repeated, process-wide.
var retries atomic.Int64

// Retries is how many publishes and key-value operations this process has
// sent again after a transient failure since it started.
func Retries() int64 { return retries.Load() }

// JetStream error codes of a passing state (nats-server's errors.json).
const (
	jsErrClusterNotAvail    = 10008 // "JetStream system temporarily unavailable": no meta leader
	jsErrClusterIncomplete  = 10004
	jsErrLastSeqNotReady    = 10163 // a new stream leader not yet ready to check expected-last-subject-sequence
	jsErrDuplicateInProcess = 10158 // the same Nats-Msg-Id is being stored right now: a retry overtook its first attempt
	// A replicated stream's "wrong last sequence" while another append on
	// the guarded subjects is in flight, or just done: measured on a
	// 3-node cluster, a writer's next guarded append right after its own
	// acknowledged one gets it under load. Asked again a moment later the
	// stream gives the real answer (stored, or 10071: a lost race).
	jsErrLastSeqInProcess = 10164
)

// IsTransient reports whether err is a JetStream or connection failure that
// passes by itself: a timeout waiting for the stream's answer, nobody
// answering (no stream leader during an election, or a client between two
// servers), or one of JetStream's own "temporarily unavailable" answers.
// A full stream, a failed guard, a missing stream or a closed connection
// are not: retrying them changes nothing.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jsErrClusterNotAvail, jsErrClusterIncomplete, jsErrLastSeqNotReady, jsErrDuplicateInProcess, jsErrLastSeqInProcess:
			return true
		}
	}
	return false
}

// retryTransient runs op until it succeeds or fails for good, retrying a
// transient failure (IsTransient) with backoff — 50 ms doubling to 1 s —
// for at most RetryBound or until ctx's deadline, whichever comes first.
// op gets a context bounded by attemptTimeout. retried tells op whether an
// earlier attempt failed transiently, i.e. may have been stored with its
// answer lost. A last failure that was still transient is wrapped in
// ErrUnavailable.
//
// A tiny loop rather than a backoff library: the policy is four numbers,
// and what matters — which errors retry, that an attempt has its own
// deadline inside the caller's, and what a retry after a lost answer
// means — is awo's own either way.
func retryTransient(ctx context.Context, op func(ctx context.Context, retried bool) error) error {
	start := time.Now()
	deadline := start.Add(RetryBound)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	wait := retryFirst
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithDeadline(ctx, minTime(time.Now().Add(attemptTimeout), deadline))
		err := op(actx, attempt > 1)
		cancel()
		if err == nil || !IsTransient(err) || errors.Is(err, ErrUnavailable) {
			return err
		}
		if ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w (%d attempts in %s): %w", ErrUnavailable, attempt, time.Since(start).Round(time.Millisecond), err)
		}
		retries.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// PublishRetrying publishes msg on js, retried through elections like the
// bus's own appends. Only for a message whose second copy changes nothing
// anyone reads: one with a Nats-Msg-Id inside its stream's duplicate
// window, or one on a subject that keeps only its last message (the
// checkpoint stream).
func PublishRetrying(ctx context.Context, js jetstream.JetStream, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	var ack *jetstream.PubAck
	err := retryTransient(ctx, func(ctx context.Context, _ bool) error {
		var err error
		ack, err = js.PublishMsg(ctx, msg, opts...)
		return err
	})
	return ack, err
}
