package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/freetext"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// reasonBody is the optional body of cancel and retry.
type reasonBody struct {
	Reason *string `json:"reason"`
}

// retryBody is the optional body of retry: a reason and a new cost cap.
type retryBody struct {
	Reason     *string  `json:"reason"`
	MaxCostUSD *float64 `json:"max_cost_usd"`
}

// Reason defaults and bounds.
const (
	defaultCancelReason = "cancelled by the user"
	defaultRetryReason  = "retried by the user"
	maxReasonBytes      = 1000
)

func parseReason(w http.ResponseWriter, r *http.Request, def string, limit int64) (string, error) {
	var body reasonBody
	if err := decodeOptionalJSON(w, r, &body, limit); err != nil {
		return "", err
	}
	return checkReason(body.Reason, def)
}

// checkReason validates a cancel's or retry's reason; def when none is given.
func checkReason(given *string, def string) (string, error) {
	if given == nil {
		return def, nil
	}
	reason := strings.TrimSpace(*given)
	if reason == "" {
		return "", unprocessable("reason: must not be blank; leave it out for the default")
	}
	if err := freetext.Check("reason", reason, maxReasonBytes); err != nil {
		return "", unprocessable(err.Error())
	}
	// Controls are looked for in the value as sent: trimming would drop
	// leading or trailing ones without a word.
	if err := freetext.Check("reason", *given, 0); err != nil {
		return "", unprocessable(err.Error())
	}
	return reason, nil
}

// lifecycleRequest reads what cancel and retry start from, in this order:
// the id, the reason (def when none is given), the work order as known now.
func (s *server) lifecycleRequest(w http.ResponseWriter, r *http.Request, def string) (workorder.ID, string, readmodel.WorkOrder, error) {
	id, err := pathID(r)
	if err != nil {
		return "", "", readmodel.WorkOrder{}, err
	}
	reason, err := parseReason(w, r, def, s.bodyLimit)
	if err != nil {
		return "", "", readmodel.WorkOrder{}, err
	}
	wo, err := s.current(r.Context(), id)
	if err != nil {
		return "", "", readmodel.WorkOrder{}, err
	}
	return id, reason, wo, nil
}

// cancel records workorder.cancel_requested for a pending or running work
// order. The orchestrator then decides workorder.cancelled, and the workers
// stop its steps in hand; the answer shows the work order as known now.
func (s *server) cancel(w http.ResponseWriter, r *http.Request) error {
	id, reason, wo, err := s.lifecycleRequest(w, r, defaultCancelReason)
	if err != nil {
		return err
	}
	if wo.Status.Terminal() {
		return &problem{status: http.StatusConflict, detail: fmt.Sprintf(
			"work order %s is %s; only a pending or running work order can be cancelled", id, wo.Status)}
	}
	round, err := s.retryRound(r.Context(), id)
	if err != nil {
		return err
	}
	followUp, err := s.followUpRound(r.Context(), id)
	if err != nil {
		return err
	}
	// One id per retry and follow-up round: a second cancel in the same
	// round is the same request, a cancel after a retry or in a follow-up
	// round is a new one.
	eid := roundID(string(id)+".cancel_requested"+roundSuffix(followUp), round)
	wo, err = s.publishAndRead(r.Context(), wo, s.Publisher.Event(eid, events.TypeCancelRequested, id, &events.CancelRequested{Reason: reason}))
	if err != nil {
		return err
	}
	s.log.Info("work order cancel requested", "work_order_id", string(id), "reason", reason)
	writeJSON(w, http.StatusAccepted, wo)
	return nil
}

// retry records workorder.retry_requested for a failed or cancelled work
// order that had started: the orchestrator runs it again from the step
// that failed or was in hand, as that step's next attempt. Of a running
// work order whose step waits, it asks for the step now (retryNow).
func (s *server) retry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body retryBody
	if err := decodeOptionalJSON(w, r, &body, s.bodyLimit); err != nil {
		return err
	}
	reason, err := checkReason(body.Reason, defaultRetryReason)
	if err != nil {
		return err
	}
	maxCost, err := parseMaxCost(body.MaxCostUSD)
	if err != nil {
		return unprocessable(err.Error())
	}
	wo, err := s.current(r.Context(), id)
	if err != nil {
		return err
	}
	if maxCost > 0 {
		if err := s.checkCapKept(agentName(wo.Agent)); err != nil {
			return err
		}
	}
	if waiting(wo) {
		return s.retryNow(w, r, wo, reason, maxCost)
	}
	if wo.Status != workorder.StatusFailed && wo.Status != workorder.StatusCancelled {
		return &problem{status: http.StatusConflict, detail: fmt.Sprintf(
			"work order %s is %s; only a failed or cancelled work order can be retried, or a running one while its step waits (retry now)", id, wo.Status)}
	}
	_, started, err := s.Publisher.LastEvent(r.Context(), id, events.TypeStarted)
	if err != nil {
		return fmt.Errorf("checking whether %s started: %w: %w", id, errPublish, err)
	}
	if !started {
		return &problem{status: http.StatusConflict, detail: fmt.Sprintf(
			"nothing to retry: work order %s ended (%s) before any step ran", id, wo.Status)}
	}
	var round int
	wo, _, err = s.startRound(r.Context(), wo, s.retryRound, func(n int) events.Event {
		round = n
		return s.Publisher.Event(roundID(string(id)+".retry_requested", n), events.TypeRetryRequested, id,
			&events.RetryRequested{Reason: reason, Round: n, MaxCostUSD: maxCost})
	})
	if err != nil {
		return err
	}
	s.log.Info("work order retry requested", "work_order_id", string(id), "round", round, "reason", reason)
	writeJSON(w, http.StatusAccepted, wo)
	return nil
}

// waiting reports whether wo is running with its step waiting (a usage
// limit, the daily budget): a retry then sends the step again at once.
func waiting(wo readmodel.WorkOrder) bool {
	return wo.Status == workorder.StatusRunning && wo.WaitingUntil != nil
}

// retryNow records workorder.retry_requested for a running work order whose
// step waits: the orchestrator sends the step again at once, as the same
// attempt, marked to run even though the agent's account may still be
// limited. The work order already holds its slot, so no admission; but it
// starts an agent run, so the daily budget is checked as for any new work.
func (s *server) retryNow(w http.ResponseWriter, r *http.Request, wo readmodel.WorkOrder, reason string, maxCost float64) error {
	if err := s.checkDailyBudget(r.Context()); err != nil {
		return err
	}
	id := wo.AgentWorkOrderID
	round, err := s.retryRound(r.Context(), id)
	if err != nil {
		return err
	}
	round++
	wo, err = s.publishAndRead(r.Context(), wo, s.Publisher.Event(roundID(string(id)+".retry_requested", round), events.TypeRetryRequested, id,
		&events.RetryRequested{Reason: reason, Round: round, MaxCostUSD: maxCost}))
	if err != nil {
		return err
	}
	s.log.Info("retry of a waiting work order requested: its step runs now", "work_order_id", string(id), "round", round, "reason", reason)
	writeJSON(w, http.StatusAccepted, wo)
	return nil
}

// startRound records the event that starts a work order's next round (a
// retry, a follow-up): lastRound says which round the work order is in,
// event builds the next one's. A round starts an agent again, so it needs a
// free slot like a create. It returns the work order as the read model has
// it after the event, and the event.
func (s *server) startRound(ctx context.Context, wo readmodel.WorkOrder, lastRound func(context.Context, workorder.ID) (int, error),
	event func(round int) events.Event) (readmodel.WorkOrder, events.Event, error) {
	round, err := lastRound(ctx, wo.AgentWorkOrderID)
	if err != nil {
		return wo, events.Event{}, err
	}
	release, err := s.admit(ctx, wo.RepositoryURL)
	if err != nil {
		return wo, events.Event{}, err
	}
	defer release()
	e := event(round + 1)
	wo, err = s.publishAndRead(ctx, wo, e)
	return wo, e, err
}

// current reads the work order once the projection has caught up.
func (s *server) current(ctx context.Context, id workorder.ID) (readmodel.WorkOrder, error) {
	if err := s.caughtUp(ctx); err != nil {
		return readmodel.WorkOrder{}, err
	}
	wo, err := s.Store.Get(ctx, id)
	if err != nil {
		return readmodel.WorkOrder{}, fmt.Errorf("reading work order %s: %w", id, err)
	}
	return wo, nil
}

// retryRound is the round of the work order's latest retry request; 0
// before any.
func (s *server) retryRound(ctx context.Context, id workorder.ID) (int, error) {
	return s.lastRound(ctx, id, events.TypeRetryRequested)
}

// lastRound is the round the work order's latest request of type typ (a
// retry or a follow-up) names; 0 before any.
func (s *server) lastRound(ctx context.Context, id workorder.ID, typ string) (int, error) {
	last, ok, err := s.Publisher.LastEvent(ctx, id, typ)
	if err != nil {
		return 0, fmt.Errorf("reading the last %s of %s: %w: %w", events.ShortName(typ), id, errPublish, err)
	}
	if !ok {
		return 0, nil
	}
	switch d := last.Data.(type) {
	case *events.RetryRequested:
		return d.Round, nil
	case *events.FollowUpRequested:
		return d.Round, nil
	}
	return 0, nil
}

// roundID keeps round 0's plain id, so the ids of work orders never
// retried are what they always were.
func roundID(base string, round int) string {
	if round == 0 {
		return base
	}
	return fmt.Sprintf("%s.r%d", base, round)
}

// publishAndRead records e and returns the work order as the projection
// shows it afterwards, or as it was read before when the projection is
// slow: the request is recorded either way.
func (s *server) publishAndRead(ctx context.Context, before readmodel.WorkOrder, e events.Event) (readmodel.WorkOrder, error) {
	pctx, cancel := context.WithTimeout(ctx, s.PublishTimeout)
	seq, err := s.Publisher.PublishEvent(pctx, e, nil)
	cancel()
	if err != nil {
		return before, fmt.Errorf("recording %s: %w: %w", events.ShortName(e.Type), errPublish, err)
	}
	s.published(seq)
	if err := s.caughtUp(ctx); err != nil {
		return before, nil
	}
	if after, err := s.Store.Get(ctx, before.AgentWorkOrderID); err == nil {
		return after, nil
	}
	return before, nil
}
