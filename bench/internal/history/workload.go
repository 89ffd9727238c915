// Package history measures awo with months of history: a generator that
// writes the events of many finished work orders into a JetStream store
// (the real codec and subjects), the all-in-one started on it, the
// Postgres rebuild, and read latencies under a steady load.
package history

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Workload says which history to generate. The same Workload always
// generates the same events (ids, times, texts), so a cached stream can be
// reused by any run that asks for it.
type Workload struct {
	WorkOrders   int
	Repositories int
	Seed         uint64
}

// DefaultWorkload is the history: 100,000 work orders over 20
// repositories.
var DefaultWorkload = Workload{WorkOrders: 100_000, Repositories: 20, Seed: 17}

// Key names the workload in the cache: a change to the generator's output
// must change genVersion.
func (w Workload) Key() string {
	return fmt.Sprintf("history-v%d-n%d-r%d-s%d", genVersion, w.WorkOrders, w.Repositories, w.Seed)
}

const genVersion = 1

// Summary is what the generator wrote, for the load test to ask about.
type Summary struct {
	Events int `json:"events"`
	// Status counts the work orders by their final status.
	Status map[workorder.Status]int `json:"status"`
	// IDs is every work order id, in creation order.
	IDs []workorder.ID `json:"-"`
	// Busiest is the repository with the most work orders, and Busy how
	// many it has.
	Busiest string `json:"busiest_repository"`
	Busy    int    `json:"busiest_count"`
}

// the workflows the generated work orders ask for, and how often.
var workflows = []struct {
	steps  []workorder.Step
	weight int
}{
	{[]workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute, workorder.StepCommit, workorder.StepCreatePR}, 50},
	{[]workorder.Step{workorder.StepCreateBranch, workorder.StepPlanning, workorder.StepExecute, workorder.StepReview, workorder.StepCommit, workorder.StepCreatePR}, 20},
	{[]workorder.Step{workorder.StepCreateBranch, workorder.StepExecute, workorder.StepCommit, workorder.StepCreatePR}, 30},
}

// epoch is when the generated history ends; it starts 90 days earlier.
var epoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const span = 90 * 24 * time.Hour

// RepositoryURL is the generated repository i.
func RepositoryURL(i int) string { return fmt.Sprintf("https://github.com/acme/service-%02d", i) }

// Generate calls yield with every event of w in stream order, Seq set
// from 1, and returns what it wrote. It stops early (with the summary so
// far) when yield returns an error.
func (w Workload) Generate(yield func(events.Event) error) (Summary, error) {
	rng := rand.New(rand.NewPCG(w.Seed, 0x5ca1e))
	s := Summary{Status: map[workorder.Status]int{}}
	perRepo := make([]int, w.Repositories)
	seen := make(map[workorder.ID]bool, w.WorkOrders)
	g := gen{rng: rng}
	for i := range w.WorkOrders {
		id := uniqueID(rng, seen)
		repo := zipf(rng, w.Repositories)
		perRepo[repo]++
		at := epoch.Add(-span + time.Duration(i)*(span/time.Duration(max(w.WorkOrders, 1))))
		evs, status := g.workOrder(id, RepositoryURL(repo), at)
		for _, e := range evs {
			s.Events++
			e.Seq = uint64(s.Events)
			if err := yield(e); err != nil {
				return s, err
			}
		}
		s.Status[status]++
		s.IDs = append(s.IDs, id)
	}
	for i, n := range perRepo {
		if n > s.Busy {
			s.Busiest, s.Busy = RepositoryURL(i), n
		}
	}
	return s, nil
}

func uniqueID(rng *rand.Rand, seen map[workorder.ID]bool) workorder.ID {
	for {
		id := workorder.ID(fmt.Sprintf("wo-%08x", rng.Uint32()))
		if !seen[id] {
			seen[id] = true
			return id
		}
	}
}

// zipf picks repository i with weight 1/(i+1): a few busy repositories and
// a long tail, as a team's history has.
func zipf(rng *rand.Rand, n int) int {
	var total float64
	for i := range n {
		total += 1 / float64(i+1)
	}
	x := rng.Float64() * total
	for i := range n {
		x -= 1 / float64(i+1)
		if x < 0 {
			return i
		}
	}
	return n - 1
}

// gen builds one work order's events.
type gen struct {
	rng *rand.Rand
	evs []events.Event
	id  workorder.ID
	at  time.Time
	n   int
}

func (g *gen) add(typ string, data any) {
	g.n++
	g.at = g.at.Add(time.Duration(1+g.rng.IntN(90)) * time.Second)
	e := events.New(fmt.Sprintf("%s-%d", g.id, g.n), typ, "", g.id, g.at, data)
	// Each event from the service that produces it, as the real path's.
	e.Source = events.ExpectedSource(e)
	g.evs = append(g.evs, e)
}

// workOrder is the events of one work order created at at, and the status
// they leave it in: 80% completed, 12% failed (after a retried step), 5%
// cancelled mid-step, 3% still running.
func (g *gen) workOrder(id workorder.ID, repo string, at time.Time) ([]events.Event, workorder.Status) {
	g.evs, g.id, g.at, g.n = nil, id, at, 0
	steps := pickWorkflow(g.rng)
	g.add(events.TypeRequested, &events.Requested{WorkOrderID: id, RepositoryURL: repo, SandboxType: workorder.SandboxWorktree,
		UserRequest: g.text("Fix ", 40, 160), SelectedCommands: steps, Agent: events.AgentClaude})
	g.add(events.TypeStarted, &events.Started{SandboxIdentifier: id.SandboxIdentifier(), Steps: steps})
	roll := g.rng.IntN(100)
	status, stopAt := workorder.StatusCompleted, len(steps)
	switch {
	case roll < 12:
		status, stopAt = workorder.StatusFailed, g.rng.IntN(len(steps))
	case roll < 17:
		status, stopAt = workorder.StatusCancelled, g.rng.IntN(len(steps))
	case roll < 20:
		status, stopAt = workorder.StatusRunning, g.rng.IntN(len(steps))
	}
	for _, step := range steps[:stopAt] {
		g.step(step, 1, true)
	}
	switch status {
	case workorder.StatusCompleted:
		g.add(events.TypeCompleted, &events.Completed{PullRequestURL: pullRequest(repo, g.rng)})
	case workorder.StatusFailed:
		g.step(steps[stopAt], 1, false)
		g.step(steps[stopAt], 2, false)
		g.add(events.TypeFailed, &events.Failed{Step: steps[stopAt], ErrorMessage: "claude exited 1: " + g.text("", 20, 80)})
	case workorder.StatusCancelled:
		g.add(events.TypeStepDispatched, &events.StepDispatched{Step: steps[stopAt], Attempt: 1, CommandID: fmt.Sprintf("%s-cmd-%d", id, g.n)})
		g.add(events.TypeCancelRequested, &events.CancelRequested{Reason: "cancelled by a user"})
		g.add(events.TypeCancelled, &events.Cancelled{Reason: "cancelled by a user", RepositoryURL: repo,
			SandboxType: workorder.SandboxWorktree, SandboxIdentifier: id.SandboxIdentifier()})
	case workorder.StatusRunning:
		g.add(events.TypeStepDispatched, &events.StepDispatched{Step: steps[stopAt], Attempt: 1, CommandID: fmt.Sprintf("%s-cmd-%d", id, g.n)})
		g.add(events.TypeStepStarted, &events.StepStarted{Step: steps[stopAt], Attempt: 1, AgentName: steps[stopAt].AgentName(), Worker: "executor-1"})
	}
	return g.evs, status
}

// step is one attempt of a step: dispatched, started, and its result.
func (g *gen) step(step workorder.Step, attempt int, ok bool) {
	g.add(events.TypeStepDispatched, &events.StepDispatched{Step: step, Attempt: attempt, CommandID: fmt.Sprintf("%s-cmd-%d", g.id, g.n)})
	g.add(events.TypeStepStarted, &events.StepStarted{Step: step, Attempt: attempt, AgentName: step.AgentName(), Worker: "executor-1"})
	r := events.StepResult{Step: step, Attempt: attempt, AgentName: step.AgentName(), Success: ok,
		DurationSeconds: float64(5+g.rng.IntN(600)) + g.rng.Float64(), SessionID: fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", g.rng.Uint32(),
			g.rng.IntN(1<<16), g.rng.IntN(1<<12), g.rng.IntN(1<<12), g.rng.Uint64()&(1<<48-1)),
		CostUSD: float64(g.rng.IntN(90000))/1e5 + 0.01, NumTurns: 1 + g.rng.IntN(40),
		Usage: &events.Usage{InputTokens: int64(1000 + g.rng.IntN(90000)), OutputTokens: int64(100 + g.rng.IntN(9000))}}
	if ok {
		r.Output = g.text("Done: ", 80, 400)
	} else {
		r.ErrorMessage = "claude exited 1: " + g.text("", 20, 120)
	}
	if ok && step == workorder.StepCreateBranch {
		r.BranchName, r.BaseBranch = "feat/"+string(g.id), "main"
	}
	if ok && step == workorder.StepCommit {
		c, f := 1+g.rng.IntN(6), 1+g.rng.IntN(40)
		r.CommitCount, r.FilesChanged, r.LatestCommitMessage = &c, &f, g.text("feat: ", 20, 60)
	}
	typ := events.TypeStepCompleted
	if !ok {
		typ = events.TypeStepFailed
	}
	g.add(typ, &r)
}

func pickWorkflow(rng *rand.Rand) []workorder.Step {
	x := rng.IntN(100)
	for _, w := range workflows {
		if x -= w.weight; x < 0 {
			return w.steps
		}
	}
	return workflows[0].steps
}

func pullRequest(repo string, rng *rand.Rand) string {
	return fmt.Sprintf("%s/pull/%d", repo, 1+rng.IntN(20000))
}

var words = strings.Fields(`the login handler returns a stale session token after the password reset so ` +
	`users are logged out; add a regression test update the cache invalidate on write refactor the ` +
	`retry loop and document why it backs off tests pass lint clean migration added`)

// text is prefix and then lo to hi bytes of words.
func (g *gen) text(prefix string, lo, hi int) string {
	n := lo + g.rng.IntN(hi-lo+1)
	var b strings.Builder
	b.WriteString(prefix)
	for b.Len() < n {
		b.WriteString(words[g.rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}
