package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func apiErr(code jetstream.ErrorCode, status int) error {
	return fmt.Errorf("publishing: %w", &jetstream.APIError{ErrorCode: code, Code: status, Description: "x"})
}

func TestIsTransient(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"client timeout", nats.ErrTimeout, true},
		{"attempt deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"no responders", nats.ErrNoResponders, true},
		{"no stream response", jetstream.ErrNoStreamResponse, true},
		{"reconnect buffer full", nats.ErrReconnectBufExceeded, true},
		{"no meta leader (503)", apiErr(jsErrClusterNotAvail, 503), true},
		{"incomplete results", apiErr(jsErrClusterIncomplete, 503), true},
		{"new leader not ready for the guard", apiErr(jsErrLastSeqNotReady, 503), true},
		{"same msg id in process", apiErr(jsErrDuplicateInProcess, 400), true},
		{"already gave up", fmt.Errorf("x: %w", ErrUnavailable), true},

		{"caller cancelled", context.Canceled, false},
		{"connection closed", nats.ErrConnectionClosed, false},
		{"failed guard", apiErr(jsErrWrongLastSequence, 400), false},
		{"guarded subjects busy, replicated stream", apiErr(jsErrLastSeqInProcess, 400), true},
		{"stream full (503 too)", apiErr(jsErrStreamStoreFailed, 503), false},
		{"insufficient resources (503 too)", apiErr(jsErrInsufficientResources, 503), false},
		{"stream not found", jetstream.ErrStreamNotFound, false},
		{"permission", errors.New("nats: permissions violation"), false},
	} {
		if got := IsTransient(tc.err); got != tc.want {
			t.Errorf("%s: IsTransient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRetryTransient_RetriesWithBackoffThenSucceeds(t *testing.T) {
	var calls []time.Time
	var retriedFlags []bool
	err := retryTransient(context.Background(), func(ctx context.Context, retried bool) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("an attempt without its own deadline")
		}
		calls = append(calls, time.Now())
		retriedFlags = append(retriedFlags, retried)
		if len(calls) < 4 {
			return nats.ErrTimeout
		}
		return nil
	})
	if err != nil || len(calls) != 4 {
		t.Fatalf("err %v after %d calls", err, len(calls))
	}
	if retriedFlags[0] || !retriedFlags[1] || !retriedFlags[3] {
		t.Errorf("retried flags %v: only the first attempt is not a retry", retriedFlags)
	}
	// 50, 100, 200 ms between attempts.
	for i, want := range []time.Duration{50, 100, 200} {
		if gap := calls[i+1].Sub(calls[i]); gap < want*time.Millisecond || gap > want*time.Millisecond+150*time.Millisecond {
			t.Errorf("gap %d: %s, want about %dms", i, gap, want)
		}
	}
}

func TestRetryTransient_PermanentFailureIsNotRetried(t *testing.T) {
	calls := 0
	guard := apiErr(jsErrWrongLastSequence, 400)
	err := retryTransient(context.Background(), func(context.Context, bool) error { calls++; return guard })
	if calls != 1 || !errors.Is(err, guard) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("%d calls, err %v", calls, err)
	}
}

func TestRetryTransient_StopsAtTheCallersDeadlineWithErrUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	calls := 0
	err := retryTransient(ctx, func(context.Context, bool) error { calls++; return jetstream.ErrNoStreamResponse })
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("err %v, want ErrUnavailable wrapping the last failure", err)
	}
	if took > 400*time.Millisecond || calls < 2 {
		t.Errorf("%d calls in %s; want a few, within the 300ms deadline", calls, took)
	}
}

func TestRetryTransient_CancelledCallerIsNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := retryTransient(ctx, func(context.Context, bool) error {
		calls++
		cancel()
		return nats.ErrTimeout
	})
	if calls != 1 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%d calls, err %v", calls, err)
	}
}

// A start-up lookup outlasts one retry bound when an election does: with a
// deadline it keeps going, bound after bound, until the leader answers;
// without one it gives up after a bound, as every other retry does.
func TestRetryThroughElections_OutlastsOneBound(t *testing.T) {
	failFor := RetryBound + time.Second
	op := func(start time.Time, calls *int) func(context.Context) error {
		return func(context.Context) error {
			*calls++
			if time.Since(start) < failFor {
				return nats.ErrTimeout
			}
			return nil
		}
	}
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), failFor+5*time.Second)
		defer cancel()
		var calls int
		if err := retryThroughElections(ctx, op(time.Now(), &calls)); err != nil {
			t.Fatalf("retryThroughElections: %v after %d calls, want success once the election is over", err, calls)
		}
	})
	t.Run("no deadline", func(t *testing.T) {
		t.Parallel()
		var calls int
		start := time.Now()
		err := retryThroughElections(context.Background(), op(start, &calls))
		if !errors.Is(err, ErrUnavailable) || time.Since(start) > RetryBound+time.Second {
			t.Fatalf("retryThroughElections: %v after %s, want ErrUnavailable within one bound", err, time.Since(start))
		}
	})
}
