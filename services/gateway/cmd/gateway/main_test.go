package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/readmodel/pgstore"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// The subcommand against a real NATS (over TCP, as NATS_URL) and a real
// Postgres: rows that the stream does not justify are gone, and every work
// order in the stream is back.
func TestRebuild_Postgres(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	db := pgtest.New(t)
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"NATS_URL": srv.ClientURL(), "STATE_STORAGE_TYPE": "postgres", "DATABASE_URL": db.URL}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	nc, js, err := app.ConnectNATS(ctx, cfg.Shared, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b := bus.New(js, "test")
	const id = workorder.ID("wo-0000aaaa")
	for _, e := range []events.Event{
		b.Event(string(id)+".requested", events.TypeRequested, id, &events.Requested{WorkOrderID: id,
			RepositoryURL: "https://github.com/acme/demo", SandboxType: workorder.SandboxWorktree, UserRequest: "Fix it",
			SelectedCommands: workorder.DefaultSteps}),
		b.Event(string(id)+".started", events.TypeStarted, id, &events.Started{}),
	} {
		if _, err := b.PublishEvent(ctx, e, nil); err != nil {
			t.Fatal(err)
		}
	}
	store, err := pgstore.Open(ctx, db.URL, log)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const stray = workorder.ID("wo-0000bbbb")
	if err := store.Apply(ctx, events.Event{ID: "stray", Type: events.TypeRequested, WorkOrderID: stray, Seq: 99,
		Time: time.Now(), Data: &events.Requested{WorkOrderID: stray, RepositoryURL: "https://github.com/acme/demo",
			SandboxType: workorder.SandboxWorktree, UserRequest: "x", SelectedCommands: workorder.DefaultSteps}}); err != nil {
		t.Fatal(err)
	}

	if err := rebuild(ctx, cfg, log); err != nil {
		t.Fatalf("rebuild-read-model: %v", err)
	}
	list, err := store.List(ctx, readmodel.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].AgentWorkOrderID != id || list[0].Status != workorder.StatusRunning {
		t.Errorf("after rebuild: %+v, want only %s, running", list, id)
	}
	if seq, err := store.AppliedSequence(ctx); err != nil || seq != 2 {
		t.Errorf("AppliedSequence = %d, %v; want 2", seq, err)
	}
}
