package executor

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/agent"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// A step that installed a node_modules without a .gitignore, over
// AWO_CHECKPOINT_MAX_BYTES (low here): the stored bundle holds none of it,
// the operator's log and the save stage's warning name it, and another
// executor restores the agent's own work without it.
func TestSaveStage_UntrackedOutputOverTheLimit_StaysOutOfTheStore(t *testing.T) {
	r := newStageRig(t)
	const limit = 64 << 10
	r.m.CheckpointMaxBytes = limit
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil)).With("work_order_id", string(r.cmd.WorkOrderID))
	in, err := r.restore().run(t.Context(), r.cmd, r.spec, 1, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in.sandbox.Dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		b := make([]byte, 32<<10)
		_, _ = rand.Read(b)
		p := filepath.Join(in.sandbox.Dir, "node_modules", fmt.Sprintf("pkg%d", i), "index.js")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var warned []string
	save := r.save()
	save.maxBytes, save.warn = limit, func(msg string) { warned = append(warned, msg) }
	if err := save.run(t.Context(), r.cmd, r.spec, in.sandbox, in.latest, log); err != nil {
		t.Fatal(err)
	}
	if r.store.puts != 1 || len(r.store.bundle) > 32<<10 {
		t.Fatalf("%d puts, bundle of %d bytes: the 320 KiB node_modules went into the store", r.store.puts, len(r.store.bundle))
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "node_modules/ (320 KiB)") || !strings.Contains(warned[0], "AWO_CHECKPOINT_MAX_BYTES (64 KiB)") {
		t.Fatalf("warnings %q; want one naming node_modules/ and the limit", warned)
	}
	if !strings.Contains(logBuf.String(), `"work_order_id":"wo-00000001"`) || !strings.Contains(logBuf.String(), "leaves out untracked files") ||
		!strings.Contains(logBuf.String(), "node_modules/") {
		t.Fatalf("operator log lacks the warning with the work order's id:\n%s", logBuf.String())
	}

	// Another executor: the agent's file is back, the left-out output is not.
	other := newStageRig(t)
	other.o, other.store = r.o, r.store
	other.m.Env = r.o.Env()
	other.cmd, other.spec = r.cmd, r.spec
	restored, err := other.restore().run(t.Context(), r.cmd, r.spec, 2, log)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(restored.sandbox.Dir, "hello.txt")); err != nil || string(b) != "hello\n" {
		t.Fatalf("hello.txt after restore: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(restored.sandbox.Dir, "node_modules")); !os.IsNotExist(err) {
		t.Fatalf("node_modules restored (%v): it was to be left out", err)
	}
}

// The warning reaches the work order's live log as a warning entry of the
// step, between the agent's lines and the step's end.
func TestRunStep_CheckpointLeavingOutput_WarnsInTheLiveLog(t *testing.T) {
	sb := &fakeSandboxes{dir: t.TempDir(), branch: "feat/greeting",
		leftOut: []sandbox.LeftOut{{Path: "node_modules/", Bytes: 200 << 20}, {Path: "dist/", Bytes: 3 << 20}}}
	x := newCheckpointingExecutor(t, &fakeAgent{result: agent.Result{Success: true, ResultText: "done"}}, sb, &fakeStore{})
	x.cfg.CheckpointMaxBytes = 100 << 20
	live := &recordingLog{}
	x.liveLog = live
	ctx := worker.WithDelivered(t.Context(), 1)
	if res, err := x.runStep(ctx, cmd(workorder.StepExecute), x.log); err != nil || !res.Success {
		t.Fatalf("execute: %+v, %v", res, err)
	}
	var found *logentry.Entry
	for i, e := range live.entries {
		if e.Event == logentry.EventCheckpointLeftOut {
			found = &live.entries[i]
		}
	}
	if found == nil {
		t.Fatalf("no %s entry in %v", logentry.EventCheckpointLeftOut, eventNames(live.entries))
	}
	want := "the checkpoint leaves out 203 MiB of untracked files, over AWO_CHECKPOINT_MAX_BYTES (100 MiB): node_modules/ (200 MiB), dist/ (3 MiB)"
	if found.Level != logentry.LevelWarn || found.WorkOrderID != "wo-00000001" || found.Step != workorder.StepExecute || !strings.HasPrefix(found.Message, want) {
		t.Fatalf("entry %+v; want a warning of the step starting %q", found, want)
	}
}
