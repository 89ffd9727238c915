package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/bench/internal/cachelock"
	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/services/orchestrator"
)

// CacheRoot is ${AWO_BENCH_CACHE:-$HOME/.cache/awo-bench}.
func CacheRoot() string {
	if d := os.Getenv("AWO_BENCH_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "awo-bench")
	}
	return filepath.Join(home, ".cache", "awo-bench")
}

// Cached returns the AWO_DATA_DIR of an embedded JetStream holding w's
// events under root, generating it on the first call (the directory only
// appears once complete). generated says whether this call wrote it, and
// took how long.
func Cached(ctx context.Context, root string, w Workload) (dir string, took time.Duration, err error) {
	dir = filepath.Join(root, w.Key())
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return dir, 0, nil
	}
	// Two benchmarks started together must not generate into the same
	// temporary directory: the second would remove the first's half-written
	// store. The second waits for the first and then finds it complete.
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", 0, err
	}
	release, err := cachelock.Hold(dir)
	if err != nil {
		return "", 0, err
	}
	defer release()
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return dir, 0, nil
	}
	start := time.Now()
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", 0, err
	}
	if _, err := Write(ctx, tmp, w); err != nil {
		return "", 0, fmt.Errorf("generating %s: %w", w.Key(), err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "complete"), nil, 0o644); err != nil {
		return "", 0, err
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", 0, err
	}
	return dir, time.Since(start), nil
}

// Write generates w into a fresh embedded JetStream under dataDir, as the
// all-in-one would keep it with AWO_DATA_DIR=dataDir.
func Write(ctx context.Context, dataDir string, w Workload) (Summary, error) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: dataDir})
	if err != nil {
		return Summary{}, err
	}
	defer srv.Shutdown()
	nc, err := srv.Connect("awo-bench-history")
	if err != nil {
		return Summary{}, err
	}
	defer nc.Close()
	return Publish(ctx, nc, w)
}

// Publish writes w's events through JetStream as the services store them
// (events.Encode on bus.EventSubject), then moves the orchestrator's
// durable consumer past them: in a real history it has decided every one
// of them long ago.
func Publish(ctx context.Context, nc *nats.Conn, w Workload) (Summary, error) {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		return Summary{}, err
	}
	js, err := app.Setup(ctx, nc, cfg.Shared)
	if err != nil {
		return Summary{}, err
	}
	ajs, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		return Summary{}, err
	}
	var win window
	sum, err := w.Generate(func(e events.Event) error {
		msg, err := events.Encode(e, bus.EventSubject(e.WorkOrderID, e.Type))
		if err != nil {
			return err
		}
		f, err := ajs.PublishMsgAsync(msg)
		if err != nil {
			return err
		}
		win.add(msg, f)
		// Bounded in flight: the server keeps up instead of stalling us.
		if len(win.msgs) == 2048 {
			return win.settle(ctx, ajs)
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	if err := win.settle(ctx, ajs); err != nil {
		return sum, err
	}
	if err := checkStored(ctx, js, sum.Events); err != nil {
		return sum, err
	}
	if err := ackOrchestrator(ctx, js, cfg, sum.Events); err != nil {
		return sum, err
	}
	return sum, nil
}

// window is the asynchronous publishes not yet known to be stored.
type window struct {
	msgs    []*nats.Msg
	futures []jetstream.PubAckFuture
}

func (w *window) add(m *nats.Msg, f jetstream.PubAckFuture) {
	w.msgs = append(w.msgs, m)
	w.futures = append(w.futures, f)
}

// settle waits for every publish of the window and publishes again, and
// synchronously, each one whose acknowledgement failed or never came. On a
// machine loaded enough for the client to fall behind, an acknowledgement
// can be lost (a 28-minute hang once, waiting for it); the event id is the
// message's Nats-Msg-Id, so a message that was stored after all is not
// stored twice.
func (w *window) settle(ctx context.Context, js jetstream.JetStream) error {
	for i, f := range w.futures {
		select {
		case <-f.Ok():
			continue
		case <-f.Err():
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := republish(ctx, js, w.msgs[i]); err != nil {
			return err
		}
	}
	w.msgs, w.futures = w.msgs[:0], w.futures[:0]
	return nil
}

func republish(ctx context.Context, js jetstream.JetStream, m *nats.Msg) error {
	var err error
	for range 5 {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = js.PublishMsg(pctx, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("storing event %s again: %w", m.Header.Get(nats.MsgIdHdr), err)
}

// checkStored fails unless the events stream holds exactly n messages.
func checkStored(ctx context.Context, js jetstream.JetStream, n int) error {
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	if got := info.State.Msgs; got != uint64(n) {
		return fmt.Errorf("the events stream holds %d messages, %d were generated", got, n)
	}
	return nil
}

// ackOrchestrator creates the orchestrator's durable consumer as it does
// and acknowledges n events through it.
func ackOrchestrator(ctx context.Context, js jetstream.JetStream, cfg config.Config, n int) error {
	oc := cfg.Orchestrator()
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:       orchestrator.ConsumerName,
		Description:   "Decides what happens next for every work order",
		FilterSubject: bus.AllEvents,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       oc.AckWait,
		MaxDeliver:    oc.MaxDeliver,
	})
	if err != nil {
		return fmt.Errorf("creating the orchestrator's consumer: %w", err)
	}
	for acked := 0; acked < n; {
		batch, err := cons.Fetch(min(1000, n-acked), jetstream.FetchMaxWait(time.Minute))
		if err != nil {
			return fmt.Errorf("acknowledging the history for the orchestrator: %w", err)
		}
		var last jetstream.Msg
		for msg := range batch.Messages() {
			if last != nil {
				if err := last.Ack(); err != nil {
					return err
				}
			}
			last = msg
			acked++
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("acknowledging the history for the orchestrator: %w", err)
		}
		// One acknowledgement a batch waits for the server: the next
		// fetch does not outrun the acks.
		if last != nil {
			if err := last.DoubleAck(ctx); err != nil {
				return err
			}
		}
	}
	// The last acks are asynchronous: wait until the server has them.
	for deadline := time.Now().Add(time.Minute); ; {
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the orchestrator's consumer still has unacknowledged events after a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CopyDir copies the cached data directory to dst (a fresh directory per
// start, so no run changes the cache).
func CopyDir(ctx context.Context, src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copying %s: %v: %s", src, err, out)
	}
	return nil
}
