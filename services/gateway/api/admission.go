package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Admission control: a create (or a retry, which runs a work order again)
// is refused with 429 while too many work orders are active, that is
// pending or running, overall (AWO_MAX_ACTIVE_WORK_ORDERS) or for the same
// repository (AWO_MAX_ACTIVE_PER_REPOSITORY), and nothing is published.
//
// The count is the read model's: every gateway projects the same event
// stream (with Postgres they share one table), so every gateway counts the
// same work orders without a counter of its own to keep in step, and a
// slot frees itself when the work order's completed, failed or cancelled
// event is projected. How exact it is:
//   - One gateway is exact: it admits one work order at a time and waits
//     until its projection shows the work orders it recorded itself.
//   - Several gateways can overshoot: two of them admitting at the same
//     moment both see the last free slot, and a gateway sees another's
//     creates only once it has projected them (milliseconds behind). The
//     excess is at most the creates other gateways admit within that
//     window, about one per other gateway at the moment the limit is
//     reached; it is never undershoot beyond the projection lag.
//   - A retry counts like a create: it puts a failed or cancelled work
//     order back to running and starts an agent again.
//   - A repeated create with an Idempotency-Key already used is not
//     counted again: it answers with the work order the key made.
//
// The check is two counts (pending, running) per limit, filtered by status
// and for the second limit by repository_url: index-backed on Postgres
// (the status index finds the active rows, which the limit itself keeps
// few) and a scan of the rows in memory.

// admissionRetryAfter is the Retry-After of a 429: work orders take
// minutes, so asking sooner than this only repeats the refusal.
const admissionRetryAfter = 30 * time.Second

// Admission limits; zero means no limit.
type Admission struct {
	MaxActive        int // AWO_MAX_ACTIVE_WORK_ORDERS
	MaxPerRepository int // AWO_MAX_ACTIVE_PER_REPOSITORY
}

func (a Admission) enabled() bool { return a.MaxActive > 0 || a.MaxPerRepository > 0 }

// admitter serializes admission on one gateway, so that its own
// concurrent creates cannot both take the last slot.
type admitter struct{ mu sync.Mutex }

// admit checks the limits for a work order of repositoryURL. On success
// the caller must publish and then call release, which lets the next
// admission on this gateway go: holding the lock across the publish is
// what makes a single gateway exact. It returns a 429 problem (with
// Retry-After) over a limit, and errBehind or readmodel.ErrUnavailable
// (503) when the read model cannot say. The daily budget is checked
// first (checkDailyBudget): 429 until the next UTC midnight once used up.
func (s *server) admit(ctx context.Context, repositoryURL string) (release func(), err error) {
	if !budgetChecked(ctx) {
		if err := s.checkDailyBudget(ctx); err != nil {
			return nil, err
		}
	}
	if !s.Admission.enabled() {
		return func() {}, nil
	}
	s.admission.mu.Lock()
	defer func() {
		if err != nil {
			s.admission.mu.Unlock()
		}
	}()
	// The work orders this gateway recorded must be in the count.
	if err := s.caughtUp(ctx); err != nil {
		return nil, fmt.Errorf("counting active work orders: %w", err)
	}
	if limit := s.Admission.MaxActive; limit > 0 {
		n, err := s.countActive(ctx, "")
		if err != nil {
			return nil, err
		}
		if n >= limit {
			return nil, tooManyActive(fmt.Sprintf(
				"too many active work orders: %d are pending or running and AWO_MAX_ACTIVE_WORK_ORDERS is %d; retry when one has finished",
				n, limit))
		}
	}
	if limit := s.Admission.MaxPerRepository; limit > 0 {
		n, err := s.countActive(ctx, repositoryURL)
		if err != nil {
			return nil, err
		}
		if n >= limit {
			return nil, tooManyActive(fmt.Sprintf(
				"too many active work orders for %s: %d are pending or running and AWO_MAX_ACTIVE_PER_REPOSITORY is %d; retry when one has finished",
				repositoryURL, n, limit))
		}
	}
	return s.admission.mu.Unlock, nil
}

// countActive counts pending and running work orders, of one repository
// when repositoryURL is set.
func (s *server) countActive(ctx context.Context, repositoryURL string) (int, error) {
	total := 0
	for _, st := range []workorder.Status{workorder.StatusPending, workorder.StatusRunning} {
		n, err := s.Store.Count(ctx, readmodel.Filter{Status: st, RepositoryURL: repositoryURL})
		if err != nil {
			return 0, fmt.Errorf("counting %s work orders for admission: %w", st, err)
		}
		total += n
	}
	return total, nil
}

func tooManyActive(detail string) error {
	return withRetryAfter(&problem{status: http.StatusTooManyRequests, detail: detail}, admissionRetryAfter)
}

// retryAfterError carries the Retry-After an answer should have; the
// status and detail come from the error it wraps.
type retryAfterError struct {
	err   error
	after time.Duration
}

func withRetryAfter(err error, after time.Duration) error {
	return &retryAfterError{err: err, after: after}
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// setRetryAfter sets Retry-After from an error that carries one.
func setRetryAfter(h http.Header, err error) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		h.Set("Retry-After", strconv.Itoa(int((ra.after+time.Second-1)/time.Second)))
	}
}
