// Package system runs the whole pipeline in this process — gateway with
// the memory read store, orchestrator, executor and github service, each
// on its own NATS connection as in the all-in-one binary — with the
// outside world (agent, sandboxes, gh) supplied by the caller.
package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor"
	"github.com/agentworkorders/awo/services/gateway"
	githubsvc "github.com/agentworkorders/awo/services/github"
	"github.com/agentworkorders/awo/services/orchestrator"
)

// Options configure one system.
type Options struct {
	Config    config.Config
	Connect   func(name string) (*nats.Conn, error)
	Agent     executor.AgentRunner
	Sandboxes executor.Sandboxes
	GH        githubsvc.CLI
	Logger    *slog.Logger
	// Metrics, when set, is handed to every service, as the all-in-one
	// does: deliveries and redeliveries per consumer.
	Metrics *metrics.Metrics
}

// System is a running pipeline.
type System struct {
	// URL is the gateway's base URL, http://127.0.0.1:<port>.
	URL  string
	Ends *Ends

	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
	errs   []error
}

// Start runs the four services until Stop. The gateway listens on a free
// port of 127.0.0.1.
func Start(ctx context.Context, o Options) (*System, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the gateway: %w", err)
	}
	ends := newEnds()
	store := &watchedStore{Store: readmodel.NewMemory(), ends: ends}
	cfg := o.Config

	type deps struct {
		nc  *nats.Conn
		js  jetstream.JetStream
		bus *bus.Bus
		log *slog.Logger
	}
	services := []struct {
		name string
		run  func(context.Context, deps) error
	}{
		{"gateway", func(ctx context.Context, d deps) error {
			return gateway.Serve(ctx, gateway.Deps{Config: cfg.Gateway(), Bus: d.bus, NC: d.nc, Store: store, Logger: d.log, Listener: ln, Metrics: o.Metrics,
				RepoVerifier: repocheck.NewClient(d.nc, 0)})
		}},
		{"orchestrator", func(ctx context.Context, d deps) error {
			return orchestrator.Run(ctx, orchestrator.Deps{Config: cfg.Orchestrator(), Bus: d.bus, Logger: d.log, Metrics: o.Metrics})
		}},
		{"executor", func(ctx context.Context, d deps) error {
			x, closeLiveLog, err := executor.Build(ctx, cfg.Executor(), d.bus, d.log, nil)
			if err != nil {
				return err
			}
			defer closeLiveLog()
			x.Agent, x.Sandboxes, x.Metrics = o.Agent, o.Sandboxes, o.Metrics
			return executor.Run(ctx, x)
		}},
		{"github", func(ctx context.Context, d deps) error {
			return githubsvc.Run(ctx, githubsvc.Deps{Config: cfg.GitHub(), Bus: d.bus, Logger: d.log, GH: o.GH, Metrics: o.Metrics})
		}},
	}

	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	s := &System{URL: "http://" + ln.Addr().String(), Ends: ends, cancel: cancel, errs: make([]error, len(services))}
	for i, svc := range services {
		nc, err := o.Connect("bench-" + svc.name)
		if err != nil {
			ln.Close()
			_ = s.Stop()
			return nil, err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			ln.Close()
			_ = s.Stop()
			return nil, fmt.Errorf("%s: %w", svc.name, err)
		}
		d := deps{nc: nc, js: js, bus: bus.New(js, "awo/"+svc.name), log: o.Logger.With("service", svc.name)}
		s.wg.Go(func() {
			defer nc.Close()
			if err := svc.run(runCtx, d); err != nil && !errors.Is(err, context.Canceled) {
				s.errs[i] = fmt.Errorf("%s: %w", svc.name, err)
				cancel(s.errs[i])
			}
		})
	}
	return s, nil
}

// Stop shuts the services down and returns what made any of them fail.
func (s *System) Stop() error {
	s.cancel(context.Canceled)
	s.wg.Wait()
	return errors.Join(s.errs...)
}

// End is how a work order finished, as the read store saw it.
type End struct {
	Status       workorder.Status
	ErrorMessage string
}

// Ends tells waiters when the read store records a work order's end: the
// moment a client polling GET would see it finished.
type Ends struct {
	mu      sync.Mutex
	waiters map[workorder.ID]chan End
}

func newEnds() *Ends { return &Ends{waiters: map[workorder.ID]chan End{}} }

// Expect registers interest in wo's end before it is requested, so an end
// cannot be missed however fast it comes.
func (e *Ends) Expect(wo workorder.ID) <-chan End {
	ch := make(chan End, 1)
	e.mu.Lock()
	e.waiters[wo] = ch
	e.mu.Unlock()
	return ch
}

func (e *Ends) ended(wo workorder.ID, end End) {
	e.mu.Lock()
	ch, ok := e.waiters[wo]
	delete(e.waiters, wo) // a redelivered end event must not send twice
	e.mu.Unlock()
	if ok {
		ch <- end
	}
}

// watchedStore is the memory read store that reports work orders' ends
// once they are applied.
type watchedStore struct {
	readmodel.Store
	ends *Ends
}

// Truncate lets the gateway rebuild the store, as it can the memory store.
func (w *watchedStore) Truncate(ctx context.Context) error {
	t, ok := w.Store.(interface{ Truncate(context.Context) error })
	if !ok {
		return fmt.Errorf("the read store %T cannot be emptied", w.Store)
	}
	return t.Truncate(ctx)
}

func (w *watchedStore) Apply(ctx context.Context, e events.Event) error {
	if err := w.Store.Apply(ctx, e); err != nil {
		return err
	}
	switch d := e.Data.(type) {
	case *events.Completed:
		w.ends.ended(e.WorkOrderID, End{Status: workorder.StatusCompleted})
	case *events.Failed:
		w.ends.ended(e.WorkOrderID, End{Status: workorder.StatusFailed, ErrorMessage: d.ErrorMessage})
	case *events.Cancelled:
		w.ends.ended(e.WorkOrderID, End{Status: workorder.StatusCancelled})
	}
	return nil
}
