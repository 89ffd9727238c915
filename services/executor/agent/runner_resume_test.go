package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// A second run with Resume continues the first run's conversation: the
// model gets the first prompt, the earlier turns and then the new prompt,
// and the session keeps its id.
func TestRun_ResumeContinuesTheSession(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{
		Name:   "work",
		Prompt: "write the note",
		Turns: []fakemodel.Turn{
			fakemodel.Bash("echo one > note.txt", "Write the note"),
			fakemodel.Text("Wrote note.txt"),
			// The resumed session: its turns count on from the first run's.
			fakemodel.Bash("echo two >> note.txt", "Extend the note"),
			fakemodel.Text("Extended note.txt"),
		},
	})
	r := newRunner(t)
	first, err := r.Run(context.Background(), request(srv, dir, "Please write the note.", time.Minute))
	if err != nil || !first.Success {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	req := request(srv, dir, "Also add a second line.", time.Minute)
	req.Resume = first.SessionID
	var seen messageLog
	req.OnMessage = seen.add
	second, err := r.Run(context.Background(), req)
	if err != nil || !second.Success || second.ResumeFailed {
		t.Fatalf("resumed run: %+v, %v", second, err)
	}
	if second.ResultText != "Extended note.txt" || second.SessionID != first.SessionID {
		t.Errorf("resumed run = %q in session %q; want the script's answer in session %q", second.ResultText, second.SessionID, first.SessionID)
	}
	t.Logf("first run: cost %v, usage %+v, turns %d; resumed run: cost %v, usage %+v, turns %d",
		first.CostUSD, first.Usage, first.NumTurns, second.CostUSD, second.Usage, second.NumTurns)
	// The CLI (2.1.328) reports a resumed session's cost summed over all its
	// runs, while usage and turns are this run's (see Result.CostUSD).
	if second.Usage != first.Usage || second.CostUSD <= first.CostUSD {
		t.Errorf("resumed run's usage %+v and cost %v; want this run's usage (as the first's, %+v) and the session's cost (over %v)",
			second.Usage, second.CostUSD, first.Usage, first.CostUSD)
	}
	conv := srv.Conversation("work")
	if len(conv) != 4 {
		t.Fatalf("model saw %d requests of the conversation, want 4: %+v", len(conv), conv)
	}
	if got := conv[2]; got.Turn != 2 || got.Prompt != "Please write the note." || got.LatestPrompt != "Also add a second line." {
		t.Errorf("first request of the resumed run: turn %d, prompt %q, latest prompt %q", got.Turn, got.Prompt, got.LatestPrompt)
	}
	if b := git(t, dir, "status", "--short"); !strings.Contains(b, "note.txt") {
		t.Errorf("git status = %q", b)
	}
}

// A session the CLI does not have (another machine ran it) fails at once,
// before any session starts, and says so as ResumeFailed; so does an id
// that is not a session id, without starting the CLI.
func TestRun_ResumeOfAnUnknownSessionFails(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t)
	for _, id := range []string{"3f0c8a59-4a77-4c8e-9d3e-0b1a7c1e2f00", "--help"} {
		req := request(srv, dir, "Carry on.", time.Minute)
		req.Resume = id
		var seen messageLog
		req.OnMessage = seen.add
		res, err := newRunner(t).Run(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Success || !res.ResumeFailed || res.ErrorMessage == "" {
			t.Errorf("resume %q: %+v; want a failed resume with its reason", id, res)
		}
		t.Logf("resume %q: %s", id, res.ErrorMessage)
	}
	for _, r := range srv.Requests() {
		if r.HasTools {
			t.Errorf("the model was asked for a turn: %+v", r)
		}
	}
}

// --max-budget-usd on a resumed session counts this run's cost only
// (2.1.328), though total_cost_usd reports the session's over all its runs:
// the remaining budget is passed as it is.
func TestRun_ResumedBudgetCountsThisRunOnly(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{
		Name:   "work",
		Prompt: "write the note",
		Turns: []fakemodel.Turn{
			fakemodel.Bash("echo one > note.txt", "Write the note"),
			fakemodel.Text("Wrote note.txt"),
			fakemodel.Text("Nothing more to do"),
			fakemodel.Text("Still nothing"),
		},
	})
	r := newRunner(t)
	first, err := r.Run(context.Background(), request(srv, dir, "Please write the note.", time.Minute))
	if err != nil || !first.Success {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	answer := first.CostUSD / 2
	// One answer fits in 1.5 answers, though the session then has cost
	// three; it does not fit in half of one.
	for _, tc := range []struct {
		budget float64
		want   bool
	}{{1.5 * answer, true}, {0.5 * answer, false}} {
		req := request(srv, dir, "Anything else?", time.Minute)
		req.Resume, req.MaxBudgetUSD = first.SessionID, tc.budget
		res, err := r.Run(context.Background(), req)
		if err != nil || res.Success != tc.want {
			t.Errorf("resumed with budget %.6f (one answer costs %.6f): success %v, want %v (%s, %v)",
				tc.budget, answer, res.Success, tc.want, res.ErrorMessage, err)
		}
	}
}
