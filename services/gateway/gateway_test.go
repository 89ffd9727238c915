package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway"
)

var quiet = slog.New(slog.DiscardHandler)

func testConfig(t *testing.T) config.Gateway {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.ShutdownGrace = 5 * time.Second
	return cfg.Gateway()
}

// runGateway builds the gateway from d and runs it until ctx is cancelled,
// as the binaries do.
func runGateway(ctx context.Context, d gateway.Deps) error {
	return gateway.Serve(ctx, d)
}

// running is a gateway in the background on a random local port.
type running struct {
	base string
	stop func() error
}

func start(t *testing.T, d gateway.Deps) running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runGateway(ctx, d) }()
	stopped := false
	var result error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("gateway.Run did not return after cancel")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return running{base: "http://" + ln.Addr().String(), stop: stop}
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: decoding %s: %v", url, body, err)
		}
	}
	return resp.StatusCode
}

// The memory store is rebuilt from the stream at start, and reads wait for
// that replay: a restarted gateway does not answer 404 for old work orders.
func TestRun_RebuildsReadModelFromStream(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	const id = workorder.ID("wo-00c0ffee")
	for _, e := range []events.Event{
		b.Event(string(id)+".requested", events.TypeRequested, id, &events.Requested{
			WorkOrderID: id, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
			UserRequest: "Fix it", SelectedCommands: workorder.DefaultSteps,
		}),
		b.Event(string(id)+".started", events.TypeStarted, id, &events.Started{}),
	} {
		if _, err := b.PublishEvent(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}

	g := start(t, gateway.Deps{Config: testConfig(t), Bus: env.Bus("awo/gateway"), NC: env.NC,
		Store: readmodel.NewMemory(), Logger: quiet})
	var wo readmodel.WorkOrder
	// The listener is open before Run starts, so the first request is
	// queued rather than refused: no retry needed.
	status := get(t, g.base+"/api/agent-work-orders/"+string(id), &wo)
	if status != http.StatusOK || wo.Status != workorder.StatusRunning {
		t.Fatalf("GET after start: %d %+v, want the replayed running work order", status, wo)
	}
	if err := g.stop(); err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
}

// With Health nil the real probes run, plus the read model's progress.
func TestRun_RealHealthProbes(t *testing.T) {
	env := natstest.Start(t)
	dir := t.TempDir()
	claude := filepath.Join(dir, "claude")
	if err := os.WriteFile(claude, []byte("#!/bin/sh\necho '2.1.328 (Claude Code)'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.ClaudeCLIPath = claude
	cfg.GHCLIPath = filepath.Join(dir, "no-gh")
	// Whether the test runs as root must not decide the status (as root
	// without IS_SANDBOX=1 skip-permissions makes claude unusable).
	cfg.ClaudeSkipPermissions = false
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC,
		Store: readmodel.NewMemory(), Logger: quiet})

	var body struct {
		Status       string                    `json:"status"`
		StorageType  string                    `json:"storage_type"`
		Dependencies map[string]map[string]any `json:"dependencies"`
		ReadModel    map[string]any            `json:"read_model"`
		Database     map[string]any            `json:"database"`
	}
	// The projector marks itself caught up once it has handled the start's
	// backlog (none here), in its own goroutine: poll for that moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if status := get(t, g.base+"/health", &body); status != http.StatusOK {
			t.Fatalf("GET /health: %d", status)
		}
		if body.ReadModel["caught_up"] == true || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d := body.Dependencies
	if d["claude_cli"]["version"] != "2.1.328 (Claude Code)" || d["git"]["available"] != true ||
		d["github_cli"]["available"] != false || d["nats"]["connected"] != true || d["jetstream"]["available"] != true {
		t.Errorf("dependencies = %v", d)
	}
	if rm := body.ReadModel; rm["applied_seq"] != 0.0 || rm["stream_seq"] != 0.0 || rm["lag"] != 0.0 || rm["caught_up"] != true {
		t.Errorf("read_model = %v, want an empty stream fully applied", rm)
	}
	if body.Database != nil {
		t.Errorf("database = %v with the memory store, want it absent", body.Database)
	}
	if body.Status != "healthy" || body.StorageType != "memory" {
		t.Errorf("status %s, storage %s; want healthy, memory (gh is not critical)", body.Status, body.StorageType)
	}
}

// The projection's lag is the stream's last sequence minus what this
// gateway has applied, and a store refusing events shows in /health.
func TestRun_HealthShowsLagAndStoreOutage(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	store := &pgLike{Store: readmodel.NewMemory()}
	g := start(t, gateway.Deps{Config: testConfig(t), Bus: env.Bus("awo/gateway"), NC: env.NC,
		Store: store, Logger: quiet, Health: nil})
	// Wait for the projector to be up before the outage.
	if status := get(t, g.base+"/api/agent-work-orders/", nil); status != http.StatusOK {
		t.Fatalf("GET list: %d", status)
	}

	store.setDown(true)
	const id = workorder.ID("wo-00d0d0d0")
	for _, e := range []events.Event{requestedEvent(b, id), b.Event(string(id)+".started", events.TypeStarted, id, &events.Started{})} {
		if _, err := b.PublishEvent(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	var body struct {
		Status    string         `json:"status"`
		Database  map[string]any `json:"database"`
		ReadModel map[string]any `json:"read_model"`
	}
	get(t, g.base+"/health", &body)
	if body.Status != "degraded" || body.Database["status"] != "unhealthy" || body.Database["tables_exist"] != false ||
		!strings.Contains(fmt.Sprint(body.Database["error"]), "DATABASE_URL") {
		t.Errorf("health with the database down: status %s, database %v; want degraded, unhealthy naming DATABASE_URL", body.Status, body.Database)
	}
	if body.ReadModel["stream_seq"] != 2.0 || body.ReadModel["applied_seq"] != 0.0 || body.ReadModel["lag"] != 2.0 {
		t.Errorf("read_model during the outage = %v, want stream 2, applied 0, lag 2", body.ReadModel)
	}
}

// pgLike is a memory store that answers /health's database questions and
// can be switched off like an unreachable database.
type pgLike struct {
	readmodel.Store
	mu   sync.Mutex
	down bool
}

func (s *pgLike) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *pgLike) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return fmt.Errorf("connection refused: %w", readmodel.ErrUnavailable)
	}
	return nil
}

func (s *pgLike) Apply(ctx context.Context, e events.Event) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Apply(ctx, e)
}

func (s *pgLike) Ping(context.Context) error { return s.err() }

func (s *pgLike) TablesExist(context.Context) (bool, error) {
	if err := s.err(); err != nil {
		return false, err
	}
	return true, nil
}

func TestRun_HealthDatabaseHealthy(t *testing.T) {
	env := natstest.Start(t)
	cfg := testConfig(t)
	cfg.StorageType = config.StoragePostgres
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC,
		Store: &pgLike{Store: readmodel.NewMemory()}, Logger: quiet})
	var body struct {
		StorageType string         `json:"storage_type"`
		Database    map[string]any `json:"database"`
	}
	get(t, g.base+"/health", &body)
	want := map[string]any{"status": "healthy", "tables_exist": true}
	if body.StorageType != "postgres" || !reflect.DeepEqual(body.Database, want) {
		t.Errorf("storage_type %s, database %v; want postgres, %v", body.StorageType, body.Database, want)
	}
}

// AWO_REBUILD_READ_MODEL=true empties the store and replays the stream
// before serving: rows the stream does not justify are gone.
func TestRun_RebuildAtStart(t *testing.T) {
	env := natstest.Start(t)
	b := env.Bus("awo/test")
	const id = workorder.ID("wo-00beef00")
	for _, e := range []events.Event{requestedEvent(b, id), b.Event(string(id)+".started", events.TypeStarted, id, &events.Started{})} {
		if _, err := b.PublishEvent(context.Background(), e, nil); err != nil {
			t.Fatal(err)
		}
	}
	store := readmodel.NewMemory()
	const stray = workorder.ID("wo-005a1e00")
	stale := requestedEvent(b, stray)
	stale.Seq = 1000 // as if applied long ago from a stream since reset
	if err := store.Apply(context.Background(), stale); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(t)
	cfg.RebuildReadModel = true
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: store, Logger: quiet})
	var list []readmodel.WorkOrder
	if status := get(t, g.base+"/api/agent-work-orders/", &list); status != http.StatusOK {
		t.Fatalf("GET list: %d", status)
	}
	if len(list) != 1 || list[0].AgentWorkOrderID != id || list[0].Status != workorder.StatusRunning {
		t.Errorf("after the rebuild: %+v, want only %s, running", list, id)
	}
	if seq, _ := store.AppliedSequence(context.Background()); seq != 2 {
		t.Errorf("AppliedSequence after rebuild = %d, want 2", seq)
	}

	// A store that cannot be emptied is a start error, not a silent skip.
	err := runGateway(context.Background(), gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"),
		Store: brokenStore{readmodel.NewMemory()}, Logger: quiet, Listener: mustListen(t)})
	if err == nil || !strings.Contains(err.Error(), "AWO_REBUILD_READ_MODEL") {
		t.Errorf("rebuild with a store that cannot truncate = %v, want an error naming AWO_REBUILD_READ_MODEL", err)
	}
}

func requestedEvent(b *bus.Bus, id workorder.ID) events.Event {
	return b.Event(string(id)+".requested", events.TypeRequested, id, &events.Requested{
		WorkOrderID: id, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "Fix it", SelectedCommands: workorder.DefaultSteps,
	})
}

func TestOpenStore(t *testing.T) {
	cfg := testConfig(t)
	store, closeStore, err := gateway.OpenStore(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	closeStore()
	if _, ok := store.(*readmodel.Memory); !ok {
		t.Errorf("STATE_STORAGE_TYPE=memory opened %T", store)
	}

	// Nothing listens on port 1: the start fails at once, naming the
	// variable, instead of serving 503s.
	cfg.StorageType = config.StoragePostgres
	cfg.DatabaseURL = "postgres://awo:secret@127.0.0.1:1/awo?connect_timeout=2"
	_, _, err = gateway.OpenStore(context.Background(), cfg, quiet)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "secret") {
		t.Errorf("OpenStore on an unreachable database = %v, want an error naming DATABASE_URL without the password", err)
	}
}

// The gateway over real Postgres: create, read it back at once, list with
// its total; then a second gateway on the same database resumes after the
// stored checkpoint instead of replaying the stream.
func TestRun_Postgres(t *testing.T) {
	env := natstest.Start(t)
	db := pgtest.New(t)
	cfg := testConfig(t)
	cfg.StorageType, cfg.DatabaseURL = config.StoragePostgres, db.URL
	store, closeStore, err := gateway.OpenStore(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: store, Logger: quiet})

	var ids []string
	for range 3 {
		resp, err := http.Post(g.base+"/api/agent-work-orders/", "application/json",
			strings.NewReader(`{"repository_url": "https://github.com/acme/demo", "user_request": "Fix authentication bug"}`))
		if err != nil {
			t.Fatal(err)
		}
		var created struct {
			ID string `json:"agent_work_order_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %d %v", resp.StatusCode, err)
		}
		ids = append(ids, created.ID)

		var wo readmodel.WorkOrder
		if status := get(t, g.base+"/api/agent-work-orders/"+created.ID, &wo); status != http.StatusOK ||
			string(wo.AgentWorkOrderID) != created.ID || wo.Status != workorder.StatusPending {
			t.Fatalf("GET right after POST: %d %+v", status, wo)
		}
	}

	resp, err := http.Get(g.base + "/api/agent-work-orders/?limit=2")
	if err != nil {
		t.Fatal(err)
	}
	var list []readmodel.WorkOrder
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Total-Count") != "3" ||
		len(list) != 2 || string(list[0].AgentWorkOrderID) != ids[2] || string(list[1].AgentWorkOrderID) != ids[1] {
		t.Fatalf("list: %d, X-Total-Count %q, %d rows; want the newest 2 of 3", resp.StatusCode, resp.Header.Get("X-Total-Count"), len(list))
	}

	var health struct {
		StorageType string         `json:"storage_type"`
		Database    map[string]any `json:"database"`
		ReadModel   map[string]any `json:"read_model"`
	}
	get(t, g.base+"/health", &health)
	if health.StorageType != "postgres" || health.Database["status"] != "healthy" || health.Database["tables_exist"] != true ||
		health.ReadModel["lag"] != 0.0 {
		t.Errorf("health: storage %s, database %v, read_model %v", health.StorageType, health.Database, health.ReadModel)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}

	// A restarted gateway resumes after the checkpoint: it applies nothing
	// it has already stored.
	rec := &applyCounter{Store: store}
	g2 := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: rec, Logger: quiet})
	if status := get(t, g2.base+"/api/agent-work-orders/"+ids[0], nil); status != http.StatusOK {
		t.Fatalf("GET after restart: %d", status)
	}
	if n := rec.count(); n != 0 {
		t.Errorf("restarted gateway applied %d events, want 0 (resume after the stored checkpoint)", n)
	}
}

type applyCounter struct {
	readmodel.Store
	mu sync.Mutex
	n  int
}

func (s *applyCounter) Apply(ctx context.Context, e events.Event) error {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return s.Store.Apply(ctx, e)
}

func (s *applyCounter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Shutdown lets a request in flight finish within the grace period.
func TestRun_GracefulShutdown(t *testing.T) {
	env := natstest.Start(t)
	slow := &slowStore{Store: readmodel.NewMemory(), entered: make(chan struct{}), release: make(chan struct{})}
	g := start(t, gateway.Deps{Config: testConfig(t), Bus: env.Bus("awo/gateway"), NC: env.NC,
		Store: slow, Logger: quiet})

	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(g.base + "/api/agent-work-orders/")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-slow.entered
	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()
	select {
	case <-stopped:
		t.Fatal("Run returned while a request was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(slow.release)
	if status := <-got; status != http.StatusOK {
		t.Errorf("in-flight request answered %d, want 200", status)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

type slowStore struct {
	readmodel.Store
	entered, release chan struct{}
}

func (s *slowStore) List(ctx context.Context, f readmodel.Filter) ([]readmodel.WorkOrder, error) {
	close(s.entered)
	<-s.release
	return s.Store.List(ctx, f)
}

func TestRun_ReportsStartFailures(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := runGateway(ctx, gateway.Deps{Config: testConfig(t), Logger: quiet}); err == nil {
		t.Error("Run without Bus and Store succeeded")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.Port = busy.Addr().(*net.TCPAddr).Port
	err = runGateway(ctx, gateway.Deps{Config: cfg, Bus: bus.New(env.JS, "awo/gateway"),
		Store: readmodel.NewMemory(), Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "AGENT_WORK_ORDERS_PORT") {
		t.Errorf("Run on a busy port = %v, want an error naming AGENT_WORK_ORDERS_PORT", err)
	}

	// A store that cannot say where to resume stops the gateway.
	err = runGateway(ctx, gateway.Deps{Config: testConfig(t), Bus: bus.New(env.JS, "awo/gateway"),
		Store: brokenStore{readmodel.NewMemory()}, Logger: quiet, Listener: mustListen(t)})
	if err == nil || !strings.Contains(err.Error(), "applied sequence") {
		t.Errorf("Run with a broken store = %v, want the projector's error", err)
	}
}

type brokenStore struct{ readmodel.Store }

func (brokenStore) AppliedSequence(context.Context) (uint64, error) {
	return 0, readmodel.ErrUnavailable
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// With the memory store there is nothing to rebuild; saying so, before
// connecting anywhere, beats replaying into a store thrown away at exit.
func TestRebuildReadModel_MemoryStoreRefused(t *testing.T) {
	cfg := testConfig(t)
	connected := false
	err := gateway.RebuildReadModel(context.Background(), cfg, quiet, func(context.Context) (jetstream.JetStream, func(), error) {
		connected = true
		return nil, func() {}, nil
	})
	if err == nil || !strings.Contains(err.Error(), "STATE_STORAGE_TYPE=memory") || connected {
		t.Errorf("rebuild with memory = %v (connected %v), want an error naming STATE_STORAGE_TYPE=memory before connecting", err, connected)
	}
}

// Archon's STATE_STORAGE_TYPE=file starts the memory read model and says
// in one line where the work orders persist.
func TestOpenStore_ArchonFileStorage(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"STATE_STORAGE_TYPE": "file", "FILE_STATE_DIRECTORY": "/srv/awo-state"}, "under /srv/awo-state"},
		{map[string]string{"STATE_STORAGE_TYPE": "file", "NATS_URL": "nats://127.0.0.1:4222"}, "NATS_URL"},
	} {
		cfg, err := config.Load(func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatal(err)
		}
		var logged strings.Builder
		log := slog.New(slog.NewTextHandler(&logged, nil))
		store, closeStore, err := gateway.OpenStore(context.Background(), cfg.Gateway(), log)
		if err != nil {
			t.Fatal(err)
		}
		closeStore()
		if _, ok := store.(*readmodel.Memory); !ok {
			t.Errorf("STATE_STORAGE_TYPE=file opened %T, want the memory store", store)
		}
		lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], "STATE_STORAGE_TYPE=file") || !strings.Contains(lines[0], tc.want) {
			t.Errorf("logged %q, want one line saying STATE_STORAGE_TYPE=file and %q", logged.String(), tc.want)
		}
	}
}

// A connection that never sent a request (a client's spare dial) holds no
// work: a shutdown that outlasts its grace only because of it is a clean
// stop, not an error (net/http counts such a connection idle after 5 s).
func TestRun_ShutdownIgnoresConnectionsThatNeverSentARequest(t *testing.T) {
	env := natstest.Start(t)
	cfg := testConfig(t)
	cfg.ShutdownGrace = 300 * time.Millisecond
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: readmodel.NewMemory(), Logger: quiet})
	deadline := time.Now().Add(10 * time.Second)
	for get(t, g.base+"/healthz", nil) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the gateway never answered /healthz")
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := g.stop(); err != nil {
		t.Errorf("Run = %v, want nil: the only open connection never sent a request", err)
	}
}
