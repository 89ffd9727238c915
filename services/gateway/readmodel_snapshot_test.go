package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway"
	"github.com/agentworkorders/awo/services/gateway/snapshot"
)

func publishRequested(t *testing.T, env *natstest.Env, id workorder.ID) uint64 {
	t.Helper()
	b := env.Bus("awo/test")
	seq, err := b.PublishEvent(context.Background(), b.Event(string(id)+".requested", events.TypeRequested, id, &events.Requested{
		WorkOrderID: id, RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree,
		UserRequest: "Fix it", SelectedCommands: workorder.DefaultSteps,
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// A gateway with the memory store writes its snapshot when it stops
// gracefully, and the next one starts from it.
func TestRun_MemorySnapshotAtShutdown(t *testing.T) {
	env := natstest.Start(t)
	publishRequested(t, env, "wo-0000aaaa")
	last := publishRequested(t, env, "wo-0000bbbb")
	cfg := testConfig(t)
	if cfg.ReadModelSnapshotEvery == 0 {
		t.Fatal("snapshots are off by default")
	}
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: readmodel.NewMemory(), Logger: quiet})
	if status := get(t, g.base+"/api/agent-work-orders/wo-0000bbbb", nil); status != http.StatusOK {
		t.Fatalf("GET = %d", status)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	obs, err := env.JS.ObjectStore(context.Background(), bus.ReadModelSnapshots)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(context.Background(), snapshot.Object)
	if err != nil {
		t.Fatalf("no snapshot after a graceful shutdown: %v", err)
	}
	if got := info.Metadata["applied_seq"]; got != strconv.FormatUint(last, 10) {
		t.Fatalf("snapshot at seq %s, want %d", got, last)
	}

	// The next start loads it and replays nothing.
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	next := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: readmodel.NewMemory(), Logger: log})
	var wo readmodel.WorkOrder
	if status := get(t, next.base+"/api/agent-work-orders/wo-0000aaaa", &wo); status != http.StatusOK || wo.Status != workorder.StatusPending {
		t.Fatalf("GET after a start from the snapshot: %d %+v", status, wo)
	}
	if out := logs.String(); !strings.Contains(out, "read model loaded from its snapshot") ||
		!strings.Contains(out, `msg="projector starting" component=projector after_seq=`+strconv.FormatUint(last, 10)) {
		t.Fatalf("the second start did not resume from the snapshot:\n%s", out)
	}
}

// AWO_READ_MODEL_SNAPSHOT_EVERY=0 writes no snapshot, not even at
// shutdown.
func TestRun_MemorySnapshotsOff(t *testing.T) {
	env := natstest.Start(t)
	publishRequested(t, env, "wo-0000aaaa")
	cfg := testConfig(t)
	cfg.ReadModelSnapshotEvery = 0
	g := start(t, gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: readmodel.NewMemory(), Logger: quiet})
	if status := get(t, g.base+"/api/agent-work-orders/wo-0000aaaa", nil); status != http.StatusOK {
		t.Fatalf("GET = %d", status)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	obs, err := env.JS.ObjectStore(context.Background(), bus.ReadModelSnapshots)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if info, err := obs.GetInfo(context.Background(), snapshot.Object); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("snapshots off, yet the bucket holds %+v (%v)", info, err)
	}
}
