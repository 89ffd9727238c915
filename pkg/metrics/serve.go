package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve answers GET /metrics on ln until ctx is cancelled. It is for the
// services without an HTTP API of their own (orchestrator, executor,
// github); the gateway mounts Handler on its router instead.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	return m.serve(ctx, ln, nil, log)
}

// Routes are further handlers served beside GET /metrics, by ServeMux
// pattern (the workers' "GET /healthz" and "GET /readyz").
type Routes map[string]http.Handler

func (m *Metrics) serve(ctx context.Context, ln net.Listener, routes Routes, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	for pattern, h := range routes {
		mux.Handle(pattern, h)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String(), "path", "/metrics")
	select {
	case err := <-served:
		return fmt.Errorf("serving metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics on %s: %w", ln.Addr(), err)
	}
	return nil
}

// ServeBeside runs run and, when addr is not empty, serves /metrics on addr
// for as long as run runs. A listener that cannot be opened fails before
// run starts; a metrics server that fails later stops run too, since a
// replica that cannot be watched should not pass for healthy.
func (m *Metrics) ServeBeside(ctx context.Context, addr string, log *slog.Logger, run func(context.Context) error) error {
	return m.ServeBesideWith(ctx, addr, nil, log, run)
}

// ServeBesideWith is ServeBeside serving routes beside /metrics.
func (m *Metrics) ServeBesideWith(ctx context.Context, addr string, routes Routes, log *slog.Logger, run func(context.Context) error) error {
	if log == nil {
		log = slog.Default()
	}
	if addr == "" {
		return run(ctx)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for metrics on %s (AWO_METRICS_LISTEN): %w", addr, err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	served := make(chan error, 1)
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		err := m.serve(serveCtx, ln, routes, log)
		if err != nil {
			cancel(err)
		}
		served <- err
	}()
	runErr := run(ctx)
	stopServing()
	serveErr := <-served
	if runErr != nil {
		return runErr
	}
	return serveErr // nil unless the server failed on its own
}
