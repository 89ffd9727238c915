package projector_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/readmodel/pgstore"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/projector"
)

func openPG(t *testing.T, db *pgtest.DB) *pgstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, db.URL, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// poison publishes, straight to the stream (no API validation), a
// workorder.requested whose user_request holds a NUL byte: valid JSON and a
// valid event, but text Postgres cannot store.
func poison(t *testing.T, b *bus.Bus, id workorder.ID) uint64 {
	t.Helper()
	data := requested(id)
	data.UserRequest = "Fix\u0000it"
	return publish(t, b, id, events.TypeRequested, data)
}

func rejectedCount(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "awo_projection_rejected_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("awo_projection_rejected_total is not registered")
	return 0
}

func dlqMessages(t *testing.T, env *natstest.Env) uint64 {
	t.Helper()
	st, err := env.JS.Stream(context.Background(), bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// An event Postgres refuses must not stop the projection (every read
// would answer 503, even after a restart): it is dead-lettered with the
// reason, counted, skipped past in the store's checkpoint, and the events
// after it are applied; a projector started later on the same database
// does not touch it again.
func TestProjector_Postgres_PoisonEventIsDeadLetteredAndSkipped(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	store := openPG(t, pgtest.New(t))

	const bad, good = workorder.ID("wo-0000dead"), workorder.ID("wo-0000600d")
	badSeq := poison(t, b, bad)
	publish(t, b, good, events.TypeRequested, requested(good))
	seq := publish(t, b, good, events.TypeStarted, &events.Started{})

	m := metrics.New()
	p := projector.New(env.JS, store, quiet).CountRejections(m)
	stop := start(t, p)
	waitFor(t, p, seq)

	ctx := context.Background()
	wo, err := store.Get(ctx, good)
	if err != nil || wo.Status != workorder.StatusRunning {
		t.Fatalf("work order after the poison: %+v, %v; want running", wo, err)
	}
	if _, err := store.Get(ctx, bad); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("poisoned work order: %v, want not found", err)
	}
	if n := rejectedCount(t, m); n != 1 {
		t.Errorf("awo_projection_rejected_total = %v, want 1", n)
	}

	st, err := env.JS.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := st.GetLastMsgForSubject(ctx, bus.DLQSubject(projector.DLQConsumer, bus.EventSubject(bad, events.TypeRequested)))
	if err != nil {
		t.Fatalf("no DLQ copy of the poison: %v", err)
	}
	h := dead.Header
	if reason := h.Get(bus.HeaderDLQError); !strings.Contains(reason, readmodel.ErrRejected.Error()) || !strings.Contains(reason, "SQLSTATE 22") {
		t.Errorf("DLQ reason %q, want the rejection with its SQLSTATE", reason)
	}
	if h.Get(bus.HeaderDLQConsumer) != projector.DLQConsumer ||
		h.Get(bus.HeaderDLQSubject) != bus.EventSubject(bad, events.TypeRequested) ||
		h.Get(bus.HeaderDLQSequence) != strconv.FormatUint(badSeq, 10) {
		t.Errorf("DLQ headers %v, want consumer, original subject and sequence %d", h, badSeq)
	}
	if e, err := events.Decode(h, dead.Data); err != nil || e.WorkOrderID != bad {
		t.Errorf("DLQ copy does not decode as the original event: %+v, %v", e, err)
	}
	if applied, _ := store.AppliedSequence(ctx); applied != seq {
		t.Errorf("store checkpoint = %d, want %d", applied, seq)
	}
	stop()

	// A restart on the same database resumes after the checkpoint: the
	// poison is not applied, counted or dead-lettered again.
	rec := &applyRecorder{Store: store}
	m2 := metrics.New()
	p2 := projector.New(env.JS, rec, quiet).CountRejections(m2)
	start(t, p2)
	done := publish(t, b, good, events.TypeCompleted, &events.Completed{})
	waitFor(t, p2, done)
	if got := rec.seqs(); len(got) != 1 || got[0] != done {
		t.Errorf("restarted projector applied seqs %v, want only %d", got, done)
	}
	if n := rejectedCount(t, m2); n != 0 {
		t.Errorf("restarted projector counted %v rejections, want 0", n)
	}
	if n := dlqMessages(t, env); n != 1 {
		t.Errorf("DLQ holds %d messages, want 1", n)
	}
	if wo, _ := store.Get(ctx, good); wo.Status != workorder.StatusCompleted {
		t.Errorf("status after restart %s, want completed", wo.Status)
	}
}

// The rebuild command replays the whole stream: the poison is skipped and
// dead-lettered there too instead of aborting the rebuild.
func TestRebuild_Postgres_PoisonEventIsSkipped(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	store := openPG(t, pgtest.New(t))
	const bad, good = workorder.ID("wo-0000dead"), workorder.ID("wo-0000600d")
	poison(t, b, bad)
	last := publish(t, b, good, events.TypeRequested, requested(good))

	m := metrics.New()
	stats, err := projector.Rebuild(context.Background(), env.JS, store, quiet, projector.RebuildOptions{Rejections: m})
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if stats.Rejected != 1 || stats.Skipped != 1 || stats.LastSeq != last {
		t.Errorf("stats %+v, want 1 rejected and skipped, last seq %d", stats, last)
	}
	if _, err := store.Get(context.Background(), good); err != nil {
		t.Errorf("work order after the poison: %v", err)
	}
	if n, _ := store.AppliedSequence(context.Background()); n != last {
		t.Errorf("checkpoint %d, want %d", n, last)
	}
	if n := rejectedCount(t, m); n != 1 {
		t.Errorf("awo_projection_rejected_total = %v, want 1", n)
	}
	if n := dlqMessages(t, env); n != 1 {
		t.Errorf("DLQ holds %d messages, want 1", n)
	}
}

// An outage is not poison: the projector retries the event until the
// database is back, skips nothing and dead-letters nothing.
func TestProjector_Postgres_OutageIsRetriedNotSkipped(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	db := pgtest.NewCluster(t)
	store := openPG(t, db)
	m := metrics.New()
	p := projector.New(env.JS, store, quiet).CountRejections(m)
	start(t, p)

	const id = workorder.ID("wo-0000a0a0")
	waitFor(t, p, publish(t, b, id, events.TypeRequested, requested(id)))

	db.Stop(t)
	seq := publish(t, b, id, events.TypeStarted, &events.Started{})
	deadline := time.Now().Add(waitLimit)
	for p.StoreErr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the projector never reported the outage")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.StoreErr(); !errors.Is(err, readmodel.ErrUnavailable) {
		t.Errorf("StoreErr = %v, want ErrUnavailable", err)
	}
	time.Sleep(500 * time.Millisecond) // a few retries
	if got := p.Applied(); got >= seq {
		t.Fatalf("applied %d during the outage, want < %d (nothing skipped)", got, seq)
	}
	db.Start(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		err := p.WaitFor(ctx, seq)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("projection did not resume after the outage: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // WaitFor gives up at once while the store fails
	}
	if wo, err := store.Get(ctx, id); err != nil || wo.Status != workorder.StatusRunning || wo.Version != seq {
		t.Errorf("row after the outage: %+v, %v; want running at %d", wo, err, seq)
	}
	if n := rejectedCount(t, m); n != 0 {
		t.Errorf("awo_projection_rejected_total = %v after an outage, want 0", n)
	}
	if n := dlqMessages(t, env); n != 0 {
		t.Errorf("DLQ holds %d messages after an outage, want 0", n)
	}
}

type applyRecorder struct {
	readmodel.Store
	mu   sync.Mutex
	seen []uint64
}

func (r *applyRecorder) Apply(ctx context.Context, e events.Event) error {
	r.mu.Lock()
	r.seen = append(r.seen, e.Seq)
	r.mu.Unlock()
	return r.Store.Apply(ctx, e)
}

func (r *applyRecorder) seqs() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.seen...)
}
