package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/github/gh"
)

// AnswersConsumer is the durable consumer on WORKORDERS_EVENTS through
// which the service answers on GitHub where a work order was asked for
// (events.Origin), shared by every replica.
const AnswersConsumer = "github-answers"

// IssueCLI is what answering needs from gh; *gh.Client implements it.
type IssueCLI interface {
	IssueComments(ctx context.Context, repo string, number int) ([]gh.Comment, error)
	CommentIssue(ctx context.Context, repo string, number int, body string) (commentURL string, err error)
}

const (
	// answersWorkers bounds the answers in flight per replica.
	answersWorkers = 4
	// answersMaxDeliver with bus.DefaultBackoff keeps asking GitHub for
	// about a quarter of an hour; then the answer is dead-lettered. The
	// work order is not touched: an answer is a courtesy, not a step.
	answersMaxDeliver = 20
	// answerTimeout bounds one answer's gh calls, so a stuck gh holds up
	// the other work orders' answers on its worker for seconds, not the
	// gh client's minutes.
	answerTimeout = 30 * time.Second
	// maxReasonChars cuts a failure reason quoted in an answer.
	maxReasonChars = 4000
)

// answerTypes are the events that may need an answer: a round asked for,
// a wait for the daily budget, and the ends of a round.
var answerTypes = []string{events.TypeRequested, events.TypeFollowUpRequested,
	events.TypeStepWaiting, events.TypeCompleted, events.TypeFailed, events.TypeCancelled}

// answerer comments on the issue or pull request a work order's round was
// asked from: when the round starts and when it ends.
type answerer struct {
	bus       *bus.Bus
	gh        IssueCLI
	publicURL string
	red       *redact.Redactor
	log       *slog.Logger
}

// answer is one comment to leave.
type answer struct {
	origin events.Origin
	marker string // the hidden line that makes it once-only
	body   string
}

// serveAnswers runs the answers consumer until ctx ends. A failure to run
// it is logged and tried again later: answers must not stop the steps the
// service runs.
func (a *answerer) serveAnswers(ctx context.Context, d Deps) {
	wait := time.Second
	for {
		err := a.consume(ctx, d)
		if ctx.Err() != nil {
			return
		}
		a.log.Error("answering on GitHub stopped; starting again", "consumer", AnswersConsumer, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

func (a *answerer) consume(ctx context.Context, d Deps) error {
	cons, err := answersConsumer(ctx, a.bus, d.Config.AckWait)
	if err != nil {
		return err
	}
	d.Metrics.WatchConsumer(a.bus.JS, bus.StreamEvents, AnswersConsumer)
	a.log.Info("github service answering where work orders were asked for", "consumer", AnswersConsumer)
	return a.bus.Consume(ctx, cons, a.handle, bus.ConsumeOptions{
		Name:       AnswersConsumer,
		Workers:    answersWorkers,
		AckWait:    d.Config.AckWait,
		MaxDeliver: answersMaxDeliver,
		// A work order's answers go out in the order of its events: the
		// start before the end.
		OrderKey: func(d *bus.Delivery) string { return string(d.Event.WorkOrderID) },
		Observe:  d.Metrics.ObserveDelivery(),
		Logger:   a.log,
	})
}

// answersConsumer makes or updates the durable consumer. A new one starts
// with the events stored from now on: a history from before answers
// existed has no origins, and reading every old work order's history to
// find that out is wasted work. One made before keeps where it started
// from (the server refuses to change that).
func answersConsumer(ctx context.Context, b *bus.Bus, ackWait time.Duration) (jetstream.Consumer, error) {
	filters := make([]string, len(answerTypes))
	for i, t := range answerTypes {
		filters[i] = bus.TypeFilter(t)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        AnswersConsumer,
		Description:    "Answers on GitHub where a work order was asked for, shared by every github replica",
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        ackWait,
		MaxDeliver:     answersMaxDeliver,
	}
	cons, err := b.JS.Consumer(ctx, bus.StreamEvents, AnswersConsumer)
	switch {
	case err == nil:
		old := cons.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("looking up consumer %s: %w", AnswersConsumer, err)
	}
	return b.CreateOrUpdateConsumer(ctx, bus.StreamEvents, cfg)
}

// handle answers one event when its round was asked for on GitHub. GitHub
// failing is retried with backoff (the error); GitHub refusing for good (a
// repository or issue that is gone) is logged and dropped.
func (a *answerer) handle(ctx context.Context, d *bus.Delivery) error {
	log := a.log.With("work_order_id", string(d.Event.WorkOrderID), "type", events.ShortName(d.Event.Type))
	ans, ok, err := a.answerFor(ctx, d.Event)
	if err != nil || !ok {
		return err
	}
	log = log.With("repository", ans.origin.Repository, "number", ans.origin.Number)
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	err = a.post(ctx, ans, d.NumDelivered() > 1, log)
	if err != nil && gh.IsGone(err) {
		log.Warn("GitHub refuses the answer for good; not asking again", "err", err)
		return nil
	}
	return err
}

// post leaves ans once. A redelivery first looks for the comment an
// earlier delivery may have posted before it was cut short.
func (a *answerer) post(ctx context.Context, ans answer, redelivered bool, log *slog.Logger) error {
	repo, n := ans.origin.Repository, ans.origin.Number
	if redelivered {
		comments, err := a.gh.IssueComments(ctx, repo, n)
		if err != nil {
			return fmt.Errorf("reading the comments of %s#%d (to answer once only): %w", repo, n, err)
		}
		if url := markedComment(comments, ans.marker, fmt.Sprintf("%s#%d", repo, n)); url != "" {
			log.Info("the answer is already on GitHub; not posting it again", "comment", url)
			return nil
		}
	}
	url, err := a.gh.CommentIssue(ctx, repo, n, ans.body)
	if err != nil {
		return fmt.Errorf("answering on %s#%d: %w", repo, n, err)
	}
	log.Info("answered on GitHub", "comment", url)
	return nil
}

// answerFor is the answer e calls for; ok is false when none: the round
// was not asked for on GitHub.
func (a *answerer) answerFor(ctx context.Context, e events.Event) (answer, bool, error) {
	wo := e.WorkOrderID
	switch v := e.Data.(type) {
	case *events.Requested:
		return a.start(wo, v.Origin, 1)
	case *events.FollowUpRequested:
		return a.start(wo, v.Origin, v.Round)
	case *events.StepWaiting:
		return a.waiting(ctx, e, v)
	case *events.Completed, *events.Failed, *events.Cancelled:
		r, err := a.endedRound(ctx, e)
		if err != nil {
			return answer{}, false, err
		}
		if !usable(r.origin) {
			return answer{}, false, nil
		}
		marker := answerMarker(wo, r.round, "end")
		if r.retries > 0 {
			// Each retry of the round ends again, and says so again.
			marker = fmt.Sprintf("<!-- awo work_order_id=%s round=%d answer=end retry=%d -->", wo, r.round, r.retries)
		}
		return answer{origin: *r.origin, marker: marker, body: a.endBody(wo, r.round, e.Data) + "\n" + marker + "\n"}, true, nil
	}
	return answer{}, false, nil
}

func (a *answerer) start(wo workorder.ID, o *events.Origin, round int) (answer, bool, error) {
	if !usable(o) {
		return answer{}, false, nil
	}
	marker := answerMarker(wo, round, "start")
	body := "Working on it: work order `" + string(wo) + "`" + roundNote(round)
	if link := a.link(wo); link != "" {
		body += " " + link
	}
	return answer{origin: *o, marker: marker, body: body + "\n\n" + marker + "\n"}, true, nil
}

// waiting answers a wait for the daily budget (AWO_DAILY_BUDGET_USD): a
// round asked for on GitHub over the budget is recorded and waits until
// the next UTC midnight, and says so where it was asked for, once per
// wait. A usage-limit wait (minutes, maybe many in a row) is not answered.
func (a *answerer) waiting(ctx context.Context, e events.Event, w *events.StepWaiting) (answer, bool, error) {
	if w.Reason != events.WaitDailyBudget {
		return answer{}, false, nil
	}
	r, err := a.endedRound(ctx, e)
	if err != nil || !usable(r.origin) {
		return answer{}, false, err
	}
	until := w.WaitingUntil.UTC().Format(time.RFC3339)
	marker := fmt.Sprintf("<!-- awo work_order_id=%s round=%d answer=wait until=%s -->", e.WorkOrderID, r.round, until)
	var b strings.Builder
	fmt.Fprintf(&b, "Waiting: work order `%s`%s goes on at %s.\n", e.WorkOrderID, roundNote(r.round), until)
	quote(&b, a.red.String(w.Message))
	if link := a.link(e.WorkOrderID); link != "" {
		b.WriteString("\nDetails: " + link + "\n")
	}
	return answer{origin: *r.origin, marker: marker, body: b.String() + "\n" + marker + "\n"}, true, nil
}

// usable reports whether o names a place to answer: an owner/name
// repository (as webhooks give it) and an issue or pull request number.
func usable(o *events.Origin) bool {
	if o == nil || o.Number <= 0 {
		return false
	}
	owner, name, ok := strings.Cut(o.Repository, "/")
	return ok && owner != "" && name != "" && !strings.Contains(name, "/")
}

// round is what endedRound found: the round a work order's end ends.
type round struct {
	origin  *events.Origin
	round   int
	retries int // retries of the round before this end
}

// endedRound reads the work order's history up to end: the round that
// ended (or whose step waits) is the last one asked for before it (a later one is another
// round's business).
func (a *answerer) endedRound(ctx context.Context, end events.Event) (round, error) {
	h, err := a.bus.History(ctx, end.WorkOrderID, 0)
	if err != nil {
		return round{}, err
	}
	var r round
	for _, e := range h.Events {
		if e.Seq > end.Seq {
			break
		}
		switch v := e.Data.(type) {
		case *events.Requested:
			r = round{origin: v.Origin, round: 1}
		case *events.FollowUpRequested:
			r = round{origin: v.Origin, round: v.Round}
		case *events.RetryRequested:
			r.retries++
		}
	}
	return r, nil
}

// endBody is the final word of a round: its pull request, why it failed,
// or that it was cancelled. What GitHub shows is redacted: a failure's
// reason may quote what a tool printed.
func (a *answerer) endBody(wo workorder.ID, round int, data any) string {
	name := "work order `" + string(wo) + "`" + roundNote(round)
	var b strings.Builder
	switch v := data.(type) {
	case *events.Completed:
		switch {
		case v.PullRequestURL != "" && round > 1:
			fmt.Fprintf(&b, "Done: %s updated %s\n", name, v.PullRequestURL)
		case v.PullRequestURL != "":
			fmt.Fprintf(&b, "Done: %s opened %s\n", name, v.PullRequestURL)
		default:
			fmt.Fprintf(&b, "Done: %s completed.\n", name)
		}
	case *events.Failed:
		b.WriteString("Failed: " + name)
		if v.Step != "" {
			b.WriteString(" at step `" + string(v.Step) + "`")
		}
		b.WriteString(".\n")
		quote(&b, a.red.String(v.ErrorMessage))
	case *events.Cancelled:
		b.WriteString("Cancelled: " + name + ".\n")
		quote(&b, a.red.String(v.Reason))
	}
	if link := a.link(wo); link != "" {
		b.WriteString("\nDetails: " + link + "\n")
	}
	return b.String()
}

// quote adds text as a Markdown quote after a blank line, cut.
func quote(b *strings.Builder, text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	b.WriteString("\n")
	for _, line := range strings.Split(textcut.Runes(text, maxReasonChars, sectionCut), "\n") {
		b.WriteString(strings.TrimRight("> "+line, " ") + "\n")
	}
}

// roundNote names a follow-up round; the first round needs no name.
func roundNote(round int) string {
	if round > 1 {
		return fmt.Sprintf(" (round %d)", round)
	}
	return ""
}

// link is the work order's page on the dashboard, "" without
// AWO_PUBLIC_URL.
func (a *answerer) link(wo workorder.ID) string {
	if a.publicURL == "" {
		return ""
	}
	return a.publicURL + "/ui/work-orders/" + string(wo)
}

// answerMarker is the hidden line that ends an answer, so a redelivery
// finds the comment an earlier delivery posted.
func answerMarker(wo workorder.ID, round int, which string) string {
	return fmt.Sprintf("<!-- awo work_order_id=%s round=%d answer=%s -->", wo, round, which)
}
