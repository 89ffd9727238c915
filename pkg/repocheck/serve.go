package repocheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// QueueGroup makes one github replica answer each check.
const QueueGroup = "awo-github"

// ServeTimeout bounds one check on the answering side: below the client's
// DefaultTimeout, so the client hears why a check took too long.
const ServeTimeout = 20 * time.Second

// serveConcurrency bounds checks in flight per replica; a check is one gh
// call, and a burst must not start dozens of them.
const serveConcurrency = 4

// CheckFunc answers one check. Its error means no answer could be had
// (gh or GitHub failing); the client sees it as ErrUnavailable, so it must
// carry no secret.
type CheckFunc func(ctx context.Context, repositoryURL string) (Result, error)

// Serve answers checks on Subject with check until stop is called. stop
// unsubscribes, cancels the checks in progress (they answer "unavailable")
// and waits for them.
func Serve(nc *nats.Conn, check CheckFunc) (stop func(), err error) {
	if nc == nil || check == nil {
		return nil, errors.New("serving repository checks: a NATS connection and a check function are required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex // orders wg.Add before stop's wg.Wait
		stopped bool
	)
	slots := make(chan struct{}, serveConcurrency)
	// The handler returns at once: a slow gh must not hold up the
	// subscription's other messages.
	sub, err := nc.QueueSubscribe(Subject, QueueGroup, func(m *nats.Msg) {
		mu.Lock()
		if stopped {
			mu.Unlock()
			respond(m, reply{Unavailable: "the github service is shutting down"})
			return
		}
		wg.Add(1)
		mu.Unlock()
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-ctx.Done():
				respond(m, reply{Unavailable: "the github service is shutting down"})
				return
			}
			respond(m, answer(ctx, check, m.Data))
		}()
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribing to %s: %w", Subject, err)
	}
	// Answering from the moment Serve returns: a check sent right after,
	// on another connection, must find the subscription on the server.
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		cancel()
		return nil, fmt.Errorf("subscribing to %s: %w", Subject, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = sub.Unsubscribe()
			mu.Lock()
			stopped = true
			mu.Unlock()
			cancel()
			wg.Wait()
		})
	}, nil
}

func answer(ctx context.Context, check CheckFunc, data []byte) reply {
	var req Request
	if err := json.Unmarshal(data, &req); err != nil {
		return reply{Unavailable: fmt.Sprintf("unreadable repository check request: %v", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, ServeTimeout)
	defer cancel()
	res, err := check(ctx, req.RepositoryURL)
	if err != nil {
		return reply{Unavailable: err.Error()}
	}
	return reply{Result: &res}
}

func respond(m *nats.Msg, r reply) {
	data, err := json.Marshal(r)
	if err != nil { // a Result always encodes; keep the client from waiting anyway
		data = []byte(`{"unavailable":"the github service could not encode its answer"}`)
	}
	_ = m.Respond(data) // a client that left has nobody to tell
}
