// Package github does the GitHub side of work orders with the gh CLI: it
// opens the pull request (step create-pr) and reads the issue a work order
// names (internal step fetch-issue), and it answers on the issue or pull
// request a work order was asked from (answers.go). It takes step commands from JetStream
// and publishes step.started, then step.completed or step.failed. It also
// answers the gateway's repository checks (pkg/repocheck).
package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/redact"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/github/gh"
	"github.com/agentworkorders/awo/services/github/webhooks"
)

// Micro service identity, as `nats micro ls` shows it.
const (
	MicroName        = "awo-github"
	MicroDescription = "Opens pull requests and reads issues with the gh CLI"
)

// ConsumerName is the service's durable consumer on WORKORDERS_COMMANDS,
// shared by every replica.
const ConsumerName = "github"

// serviceName is the name commands for this service carry in their subject.
const serviceName = "github"

// concurrency bounds gh calls in flight per replica; they are short API
// round trips, so a few at once keep one slow call from holding up others.
const concurrency = 4

// CLI is what the service needs from gh; *gh.Client implements it.
type CLI interface {
	CreatePR(ctx context.Context, repo, head, base, title, body string) (url string, err error)
	ViewIssue(ctx context.Context, repo string, number int) (events.Issue, error)
	ViewRepo(ctx context.Context, repo string) (gh.RepoInfo, error)
	CommentPR(ctx context.Context, url, body string) (commentURL string, err error)
	PRComments(ctx context.Context, url string) ([]gh.Comment, error)
}

// Deps are the service's collaborators, built by the caller: Build makes
// the real ones, tests pass a fake GH.
type Deps struct {
	Config config.GitHub
	Bus    *bus.Bus // required
	// Logger: nil is slog.Default() (the logger rule of pkg/app).
	Logger *slog.Logger
	GH     CLI // required
	// Issues, when set, answers on GitHub where a work order was asked for
	// (events.Origin): Build sets it to the gh client.
	Issues IssueCLI
	// Metrics, when set, records step durations, deliveries and the
	// consumer's backlog.
	Metrics *metrics.Metrics
	// Redactor takes secrets out of step results (gh's errors quote what
	// it was told); nil is redact.Default().
	Redactor *redact.Redactor
}

// Build makes the real service from cfg, for Run: the gh at
// Config.GHCLIPath, authenticated with Config.GHToken, whose state it
// reports (reportCLI). Every binary that runs the service builds it here.
func Build(ctx context.Context, cfg config.GitHub, b *bus.Bus, log *slog.Logger, red *redact.Redactor) Deps {
	if log == nil {
		log = slog.Default()
	}
	c := &gh.Client{Path: cfg.GHCLIPath, Token: cfg.GHToken}
	reportCLI(ctx, c, log)
	return Deps{Config: cfg, Bus: b, Logger: log, GH: c, Issues: c, Redactor: red}
}

// Serve builds the service (Build) and runs it until ctx is cancelled:
// the github binary and the all-in-one both run it so. With webhook URLs
// configured it also runs the outbound webhook sender, the part of awo
// that talks to the outside world being this service; either one
// stopping with an error stops both.
func Serve(ctx context.Context, cfg config.GitHub, b *bus.Bus, m *metrics.Metrics, log *slog.Logger) error {
	d := Build(ctx, cfg, b, log, b.Redactor)
	d.Metrics = m
	if !cfg.Webhooks.Enabled() {
		return Run(ctx, d)
	}
	sender, err := webhooks.New(webhooks.Options{Config: cfg.Webhooks, Bus: b, Logger: d.Logger, Metrics: m})
	if err != nil {
		return fmt.Errorf("running the github service: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		err := sender.Run(ctx)
		if err != nil {
			cancel()
		}
		sent <- err
	}()
	err = Run(ctx, d)
	cancel()
	return errors.Join(err, <-sent)
}

// Run consumes github step commands until ctx is cancelled. Calls in
// progress get Config.ShutdownGrace to finish; after that they are stopped
// and their command handed back to JetStream for another replica. Run
// uses what d holds and builds nothing: see Build.
func Run(ctx context.Context, d Deps) error {
	s := &service{cfg: d.Config, bus: d.Bus, log: d.Logger, gh: d.GH, red: redact.Or(d.Redactor)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.bus == nil {
		return errors.New("running the github service: Deps.Bus is required")
	}
	if s.gh == nil {
		return errors.New("running the github service: Deps.GH is required (github.Build makes the gh client)")
	}

	// Repository checks (POST /repositories and friends) come by
	// request/reply, answered by one replica of the queue group.
	stopChecks, err := repocheck.Serve(s.bus.JS.Conn(), s.verifyRepository)
	if err != nil {
		return fmt.Errorf("running the github service: %w", err)
	}
	defer stopChecks()

	if d.Issues != nil {
		a := &answerer{bus: s.bus, gh: d.Issues, publicURL: d.Config.PublicURL, red: s.red, log: s.log}
		answersCtx, stopAnswers := context.WithCancel(ctx)
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			a.serveAnswers(answersCtx, d)
		}()
		// The step worker returns once ctx ends and its steps are done;
		// the answers in hand finish before Run returns too.
		defer func() {
			stopAnswers()
			<-answered
		}()
	}

	s.log.Info("github service consuming step commands")
	d.Metrics.WatchConsumer(s.bus.JS, bus.StreamCommands, ConsumerName)
	return worker.Run(ctx, s.bus, worker.Config{
		Service:     serviceName,
		Description: "GitHub operations (create-pr, fetch-issue, comment-pr), shared by every github replica",
		Workers:     concurrency,
		AckWait:     d.Config.AckWait,
		MaxDeliver:  d.Config.MaxDeliver,
		Grace:       d.Config.ShutdownGrace,
		Logger:      s.log,
		Worker:      d.Config.WorkerIdentifier,
		Observe:     d.Metrics.ObserveDelivery(),
	}, d.Metrics.ObserveSteps(s.runStep))
}

// reportCLI logs whether gh can do its job, so a missing binary or login
// shows at start rather than at the first pull request. It does not stop
// the service: the operator may fix gh while it runs.
func reportCLI(ctx context.Context, c *gh.Client, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	version, err := c.Version(ctx)
	if err != nil {
		log.Warn("gh is not usable; create-pr and fetch-issue will fail until it is", "GH_CLI_PATH", c.Path, "err", err)
		return
	}
	ok, detail, err := c.AuthStatus(ctx)
	switch {
	case err != nil:
		log.Warn("could not check gh's login", "gh_version", version, "err", err)
	case !ok:
		log.Warn("gh is not logged in; set GH_TOKEN (or GITHUB_TOKEN) or run gh auth login", "gh_version", version, "detail", detail)
	default:
		log.Info("gh ready", "gh_version", version, "auth", detail)
	}
}

type service struct {
	cfg config.GitHub
	bus *bus.Bus
	log *slog.Logger
	gh  CLI
	red *redact.Redactor
}

// runStep does the step and reports the outcome. A failing gh fails the
// step with gh's reason: running it again would not change GitHub's answer.
// The error is reserved for what a retry may cure: gh that could not be
// started, or a shutdown.
func (s *service) runStep(ctx context.Context, cmd events.RunStep, _ *slog.Logger) (events.StepResult, error) {
	start := time.Now()
	var (
		res events.StepResult
		err error
	)
	switch cmd.Step {
	case workorder.StepCreatePR:
		res, err = s.createPR(ctx, cmd)
	case workorder.StepFetchIssue:
		res, err = s.fetchIssue(ctx, cmd)
	case workorder.StepCommentPR:
		res, err = s.commentPR(ctx, cmd)
	default:
		err = fmt.Errorf("the github service does not run step %s", cmd.Step)
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, gh.ErrNotStarted) {
			return events.StepResult{}, err
		}
		res = events.StepResult{ErrorMessage: err.Error()}
	} else {
		res.Success = true
	}
	res.Output, res.ErrorMessage = s.red.String(res.Output), s.red.String(res.ErrorMessage)
	res.DurationSeconds = time.Since(start).Seconds()
	return res, nil
}

func (s *service) createPR(ctx context.Context, cmd events.RunStep) (events.StepResult, error) {
	head := cmd.Args.BranchName
	if head == "" {
		return events.StepResult{}, errors.New("create-pr needs a branch: run create-branch first")
	}
	repo, err := ghRepo(cmd.RepositoryURL, s.cfg.AllowLocalRepos)
	if err != nil {
		return events.StepResult{}, fmt.Errorf("create-pr: %w", err)
	}
	base := cmd.Args.BaseBranch
	if base == "" {
		info, err := s.gh.ViewRepo(ctx, repo)
		if err != nil {
			return events.StepResult{}, fmt.Errorf("finding the default branch of %s: %w", repo, err)
		}
		if info.DefaultBranch == "" {
			return events.StepResult{}, fmt.Errorf("create-pr: %s has no default branch (is it empty?), so there is no base for the pull request", repo)
		}
		base = info.DefaultBranch
	}
	if head == base {
		return events.StepResult{}, fmt.Errorf("create-pr: the work is on %s, the base branch itself; a pull request needs a separate branch", head)
	}
	args := cmd.Args
	args.BaseBranch = base
	url, err := s.gh.CreatePR(ctx, repo, head, base, PRTitle(head, args.UserRequest), PRBodyFor(cmd.WorkOrderID, args))
	if err != nil {
		return events.StepResult{}, err
	}
	return events.StepResult{PullRequestURL: url, Output: url}, nil
}

func (s *service) fetchIssue(ctx context.Context, cmd events.RunStep) (events.StepResult, error) {
	n, ok := parseIssueNumber(cmd.Args.IssueNumber)
	if !ok {
		return events.StepResult{}, fmt.Errorf("fetch-issue needs a GitHub issue number such as 42, got %q", cmd.Args.IssueNumber)
	}
	repo, err := ghRepo(cmd.RepositoryURL, s.cfg.AllowLocalRepos)
	if err != nil {
		return events.StepResult{}, fmt.Errorf("fetch-issue: %w", err)
	}
	issue, err := s.gh.ViewIssue(ctx, repo, n)
	if err != nil {
		return events.StepResult{}, fmt.Errorf("reading issue #%d of %s: %w", n, repo, err)
	}
	return events.StepResult{Issue: &issue, Output: issue.Title}, nil
}

// ghRepo turns a repository URL into the name gh's --repo takes. A local
// repository (allowed for development and tests only) stands for the
// github.com repository with the same owner and name.
func ghRepo(raw string, allowLocal bool) (string, error) {
	r, err := repourl.Parse(raw, allowLocal)
	if err != nil {
		return "", err
	}
	if r.Host == "github.com" || r.Host == repourl.LocalHost {
		return r.Slug(), nil
	}
	// GitHub Enterprise: gh selects the host from HOST/OWNER/REPO.
	return r.Host + "/" + r.Slug(), nil
}
