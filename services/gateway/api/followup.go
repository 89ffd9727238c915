package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/freetext"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// promptBody is the body of POST /{id}/prompt (the Python service's
// AgentPromptRequest).
type promptBody struct {
	PromptText *string `json:"prompt_text"`
	// MaxCostUSD, when given, replaces the work order's cost cap.
	MaxCostUSD *float64 `json:"max_cost_usd"`
}

// parsePrompt checks prompt_text as a create checks user_request: required,
// at most maxBytes, no control characters.
func parsePrompt(b promptBody, maxBytes int) (string, error) {
	text := trimmed(b.PromptText)
	switch {
	case text == "":
		return "", unprocessable("prompt_text: field required (say what the agent should do next)")
	case len(text) > maxBytes:
		return "", unprocessable(fmt.Sprintf("prompt_text: must be at most %d bytes, got %d (AWO_MAX_REQUEST_BYTES)", maxBytes, len(text)))
	}
	// Controls are looked for in the value as sent, as for user_request.
	if err := freetext.Check("prompt_text", *b.PromptText, 0); err != nil {
		return "", unprocessable(err.Error())
	}
	return text, nil
}

// prompt records workorder.follow_up_requested for a completed or failed
// work order whose branch exists: the orchestrator runs a follow-up round
// (the agent resumes its session with the prompt, commits to the same
// branch, and comments on the pull request or opens it).
func (s *server) prompt(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body promptBody
	if err := decodeJSON(w, r, &body, s.bodyLimit); err != nil {
		return err
	}
	text, err := parsePrompt(body, s.MaxRequestBytes)
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
	wo, round, err := s.followUp(r.Context(), wo, followUpAsk{text: text, maxCostUSD: maxCost}, nil)
	if err != nil {
		return err
	}
	s.log.Info("work order follow-up requested", "work_order_id", string(id), "round", round)
	writeJSON(w, http.StatusAccepted, wo)
	return nil
}

// followUpAsk is what a follow-up round is asked with: the prompt and,
// when > 0, a new cost cap.
type followUpAsk struct {
	text       string
	maxCostUSD float64
}

// followUp records the next follow-up round of wo with text, asked from
// origin (nil: the API), once wo can take one; the prompt route and the
// GitHub webhook both go through it. It returns the work order as the read
// model has it afterwards and the round.
func (s *server) followUp(ctx context.Context, wo readmodel.WorkOrder, ask followUpAsk, origin *events.Origin) (readmodel.WorkOrder, int, error) {
	text := ask.text
	id := wo.AgentWorkOrderID
	if err := followUpAllowed(id, wo.Status, wo.GitBranchName != nil); err != nil {
		return wo, 0, err
	}
	var round int
	wo, e, err := s.startRound(ctx, wo, s.followUpRound, func(n int) events.Event {
		round = n
		return s.Publisher.Event(fmt.Sprintf("%s.follow_up_requested.%d", id, n), events.TypeFollowUpRequested, id,
			&events.FollowUpRequested{PromptText: text, Round: n, Origin: origin, MaxCostUSD: ask.maxCostUSD})
	})
	if err != nil {
		return wo, 0, err
	}
	// Two prompts sent at once both ask for the same round; the stream keeps
	// the first and drops the second as a duplicate of its id. Only a repeat
	// of the same prompt is the same request.
	if last, ok, err := s.Publisher.LastEvent(ctx, id, events.TypeFollowUpRequested); err == nil && ok && last.ID == e.ID {
		if fu, _ := last.Data.(*events.FollowUpRequested); fu != nil && fu.PromptText != text {
			return wo, 0, &problem{status: http.StatusConflict, detail: fmt.Sprintf(
				"another follow-up prompt for work order %s (round %d) was recorded at the same time; wait for it to finish, then send yours", id, round)}
		}
	}
	return wo, round, nil
}

// followUpAllowed says why a work order in status cannot take a follow-up
// prompt, or nil when it can.
func followUpAllowed(id workorder.ID, status workorder.Status, hasBranch bool) error {
	conflict := func(format string, args ...any) error {
		return &problem{status: http.StatusConflict, detail: fmt.Sprintf(format, args...)}
	}
	switch status {
	case workorder.StatusPending, workorder.StatusRunning:
		return conflict("work order %s is %s; send the follow-up prompt once it has completed or failed", id, status)
	case workorder.StatusCancelled:
		return conflict("work order %s was cancelled and its sandbox removed; retry it (POST .../retry) or create a new work order", id)
	case workorder.StatusCompleted, workorder.StatusFailed:
		if !hasBranch {
			return conflict("work order %s %s before its branch was created, so there is no work to follow up on; retry it instead", id, status)
		}
		return nil
	}
	return conflict("work order %s is %s; only a completed or failed work order can take a follow-up prompt", id, status)
}

// followUpRound is the round of the work order's latest follow-up request;
// 1 (its first run) before any.
func (s *server) followUpRound(ctx context.Context, id workorder.ID) (int, error) {
	round, err := s.lastRound(ctx, id, events.TypeFollowUpRequested)
	return max(round, 1), err
}

// roundSuffix names the follow-up round in the id of a request made during
// it; "" in the first run, whose ids stay what they always were.
func roundSuffix(round int) string {
	if round <= 1 {
		return ""
	}
	return fmt.Sprintf(".f%d", round)
}
