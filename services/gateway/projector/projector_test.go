package projector_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/projector"
)

const waitLimit = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func publish(t *testing.T, b *bus.Bus, wo workorder.ID, typ string, data any) uint64 {
	t.Helper()
	e := b.Event(string(wo)+"."+events.ShortName(typ)+"."+time.Now().Format(time.RFC3339Nano), typ, wo, data)
	seq, err := b.PublishEvent(context.Background(), e, nil)
	if err != nil {
		t.Fatalf("publishing %s: %v", typ, err)
	}
	return seq
}

func requested(wo workorder.ID) *events.Requested {
	return &events.Requested{
		WorkOrderID: wo, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "Fix it", SelectedCommands: workorder.DefaultSteps,
	}
}

// start runs p until the test ends and checks that Run returned cleanly.
func start(t *testing.T, p *projector.Projector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil after cancel", err)
				}
			case <-time.After(waitLimit):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, p *projector.Projector, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.WaitFor(ctx, seq); err != nil {
		t.Fatalf("WaitFor(%d): %v", seq, err)
	}
}

func TestProjector_AppliesPublishedEvents(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	store := readmodel.NewMemory()
	p := projector.New(env.JS, store, quiet)
	start(t, p)

	const id = workorder.ID("wo-0000aaaa")
	publish(t, b, id, events.TypeRequested, requested(id))
	seq := publish(t, b, id, events.TypeStarted, &events.Started{})
	waitFor(t, p, seq)

	wo, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get after WaitFor: %v", err)
	}
	if wo.Status != workorder.StatusRunning || wo.Version != seq {
		t.Errorf("status %s version %d, want running at %d", wo.Status, wo.Version, seq)
	}
}

// The backlog present at start is part of every wait, so a restarted
// gateway does not answer 404 for work orders it has not replayed yet.
func TestProjector_WaitForIncludesBacklogAtStart(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	var ids []workorder.ID
	for i := range 50 {
		id := workorder.ID(fmt.Sprintf("wo-%08x", 0xb000+i))
		ids = append(ids, id)
		publish(t, b, id, events.TypeRequested, requested(id))
	}
	store := readmodel.NewMemory()
	p := projector.New(env.JS, store, quiet)
	start(t, p)

	waitFor(t, p, 0)
	list, err := store.List(context.Background(), readmodel.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(ids) {
		t.Fatalf("store holds %d work orders after WaitFor(0), want all %d", len(list), len(ids))
	}
	if !p.CaughtUp() {
		t.Error("CaughtUp = false after the backlog was waited for")
	}
}

func TestProjector_EmptyStreamIsCaughtUpAtOnce(t *testing.T) {
	env := natstest.Start(t)
	p := projector.New(env.JS, readmodel.NewMemory(), quiet)
	start(t, p)
	waitFor(t, p, 0)
}

// A persistent store resumes after what it has applied instead of reading
// the stream again from the start.
func TestProjector_ResumesAfterAppliedSequence(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	const id = workorder.ID("wo-0000cccc")
	publish(t, b, id, events.TypeRequested, requested(id))
	last := publish(t, b, id, events.TypeStarted, &events.Started{})

	store := &recordingStore{Store: readmodel.NewMemory()}
	p := projector.New(env.JS, store, quiet)
	stop := start(t, p)
	waitFor(t, p, last)
	stop()

	store.reset()
	p2 := projector.New(env.JS, store, quiet)
	start(t, p2)
	next := publish(t, b, id, events.TypeStepStarted, &events.StepStarted{Step: workorder.StepPlanning, Attempt: 1})
	waitFor(t, p2, next)
	if got := store.seqs(); len(got) != 1 || got[0] != next {
		t.Errorf("second run applied sequences %v, want only [%d]", got, next)
	}
}

func TestProjector_SkipsUnknownAndUndecodableEvents(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	store := readmodel.NewMemory()
	p := projector.New(env.JS, store, quiet)
	start(t, p)
	const id = workorder.ID("wo-0000dddd")
	publish(t, b, id, events.TypeRequested, requested(id))

	// A type from a newer producer.
	future := events.New("future-1", "io.archon.workorders.budget.exceeded.v1", "test", id, time.Now(), map[string]int{"usd": 5})
	msg, err := events.Encode(future, bus.EventSubject(id, future.Type))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	// Not a CloudEvent at all.
	ack, err := env.JS.PublishMsg(context.Background(), &nats.Msg{Subject: bus.EventSubject(id, events.TypeStarted), Data: []byte("garbage")})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, ack.Sequence)

	seq := publish(t, b, id, events.TypeStarted, &events.Started{})
	waitFor(t, p, seq)
	wo, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if wo.Status != workorder.StatusRunning {
		t.Errorf("status = %s, want running: the projection must go on past bad events", wo.Status)
	}
}

// A store that is down does not lose events: the projector retries the
// same event until the store takes it.
func TestProjector_RetriesUnavailableStore(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	store := &flakyStore{Store: readmodel.NewMemory(), failures: 3}
	p := projector.New(env.JS, store, quiet)
	start(t, p)

	const id = workorder.ID("wo-0000eeee")
	seq := publish(t, b, id, events.TypeRequested, requested(id))
	waitThroughOutage(t, p, seq)
	if _, err := store.Get(context.Background(), id); err != nil {
		t.Fatalf("Get: %v (event lost while the store was down?)", err)
	}
	if store.calls() != 4 {
		t.Errorf("Apply called %d times, want 3 failures + 1 success", store.calls())
	}
}

// During an outage readers are told at once that the store is down, and
// once it is back the projector applies every event published meanwhile,
// in order, with none skipped.
func TestProjector_CatchesUpAfterStoreOutage(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	store := &outageStore{Store: readmodel.NewMemory()}
	p := projector.New(env.JS, store, quiet)
	start(t, p)

	const first = workorder.ID("wo-00000a00")
	waitFor(t, p, publish(t, b, first, events.TypeRequested, requested(first)))

	store.setDown(true)
	var ids []workorder.ID
	var last uint64
	for i := range 5 {
		id := workorder.ID(fmt.Sprintf("wo-00000a%02d", i+1))
		ids = append(ids, id)
		publish(t, b, id, events.TypeRequested, requested(id))
		last = publish(t, b, id, events.TypeStarted, &events.Started{})
	}

	// A reader gives up promptly with the store's error instead of waiting
	// out its whole deadline.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	began := time.Now()
	err := p.WaitFor(ctx, last)
	if !errors.Is(err, readmodel.ErrUnavailable) {
		t.Fatalf("WaitFor during the outage = %v, want ErrUnavailable", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("WaitFor took %s to report the outage, want well under a second", took)
	}
	if !errors.Is(p.StoreErr(), readmodel.ErrUnavailable) {
		t.Errorf("StoreErr() = %v, want ErrUnavailable during the outage", p.StoreErr())
	}
	// Let the projector retry a few times while down.
	for store.failures() < 3 {
		time.Sleep(10 * time.Millisecond)
	}

	store.setDown(false)
	waitThroughOutage(t, p, last)
	if err := p.StoreErr(); err != nil {
		t.Errorf("StoreErr() = %v after recovery, want nil", err)
	}
	for _, id := range ids {
		wo, err := store.Get(context.Background(), id)
		if err != nil || wo.Status != workorder.StatusRunning {
			t.Errorf("%s after the outage: %+v, %v; want running", id, wo.Status, err)
		}
	}
	got := store.appliedSeqs()
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("applied sequences %v: want every sequence once, in order", got)
		}
	}
	if len(got) == 0 || got[len(got)-1] != last {
		t.Errorf("applied sequences %v, want up to %d", got, last)
	}
}

// Position reports the stream's last sequence next to the applied one.
func TestProjector_Position(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	store := &outageStore{Store: readmodel.NewMemory()}
	p := projector.New(env.JS, store, quiet)
	start(t, p)
	const id = workorder.ID("wo-00000b00")
	seq := publish(t, b, id, events.TypeRequested, requested(id))
	waitFor(t, p, seq)

	store.setDown(true)
	last := publish(t, b, id, events.TypeStarted, &events.Started{})
	last = max(last, publish(t, b, id, events.TypeStarted, &events.Started{}))
	pos, err := p.Position(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pos.Applied != seq || pos.Stream != last || pos.Lag() != last-seq {
		t.Errorf("Position = %+v (lag %d), want applied %d, stream %d, lag %d", pos, pos.Lag(), seq, last, last-seq)
	}
	store.setDown(false)
	waitThroughOutage(t, p, last)
	if pos, err := p.Position(context.Background()); err != nil || pos.Lag() != 0 {
		t.Errorf("Position after catching up = %+v, %v; want lag 0", pos, err)
	}
}

// waitThroughOutage waits for seq while the store may still be failing:
// WaitFor reports an outage at once, so keep asking until the deadline.
func waitThroughOutage(t *testing.T, p *projector.Projector, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := p.WaitFor(ctx, seq)
		cancel()
		switch {
		case err == nil:
			return
		case errors.Is(err, readmodel.ErrUnavailable) && time.Now().Before(deadline):
			time.Sleep(20 * time.Millisecond)
		default:
			t.Fatalf("WaitFor(%d): %v", seq, err)
		}
	}
}

func TestProjector_WaitForGivesUp(t *testing.T) {
	env := natstest.Start(t)
	p := projector.New(env.JS, readmodel.NewMemory(), quiet)
	stop := start(t, p)
	waitFor(t, p, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.WaitFor(ctx, 1000); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitFor(unreached) = %v, want deadline exceeded", err)
	}

	stop()
	if err := p.WaitFor(context.Background(), 1000); !errors.Is(err, projector.ErrStopped) {
		t.Errorf("WaitFor after stop = %v, want ErrStopped", err)
	}
}

// A waiter blocked before the event exists is woken when it is applied.
func TestProjector_WaitForWakesWhenApplied(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("test")
	p := projector.New(env.JS, readmodel.NewMemory(), quiet)
	start(t, p)
	waitFor(t, p, 0)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		done <- p.WaitFor(ctx, 1)
	}()
	const id = workorder.ID("wo-0000ffff")
	publish(t, b, id, events.TypeRequested, requested(id))
	if err := <-done; err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
}

// recordingStore remembers the sequences it was asked to apply.
type recordingStore struct {
	readmodel.Store
	mu      sync.Mutex
	applied []uint64
}

func (s *recordingStore) Apply(ctx context.Context, e events.Event) error {
	s.mu.Lock()
	s.applied = append(s.applied, e.Seq)
	s.mu.Unlock()
	return s.Store.Apply(ctx, e)
}

func (s *recordingStore) seqs() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.applied...)
}

func (s *recordingStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = nil
}

// flakyStore fails its first Apply calls as a database that is down would.
type flakyStore struct {
	readmodel.Store
	mu       sync.Mutex
	failures int
	n        int
}

func (s *flakyStore) Apply(ctx context.Context, e events.Event) error {
	s.mu.Lock()
	s.n++
	fail := s.n <= s.failures
	s.mu.Unlock()
	if fail {
		return readmodel.ErrUnavailable
	}
	return s.Store.Apply(ctx, e)
}

func (s *flakyStore) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// outageStore is a database that can be switched off: Apply fails with
// ErrUnavailable while down. It records the sequences it accepted.
type outageStore struct {
	readmodel.Store
	mu    sync.Mutex
	down  bool
	fails int
	ok    []uint64
}

func (s *outageStore) Apply(ctx context.Context, e events.Event) error {
	s.mu.Lock()
	if s.down {
		s.fails++
		s.mu.Unlock()
		return fmt.Errorf("connecting to postgres: %w", readmodel.ErrUnavailable)
	}
	s.ok = append(s.ok, e.Seq)
	s.mu.Unlock()
	return s.Store.Apply(ctx, e)
}

func (s *outageStore) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *outageStore) failures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fails
}

func (s *outageStore) appliedSeqs() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.ok...)
}
