package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/repourl"
)

// envValue is the value the stack gives a variable.
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, name+"="); ok {
			v = rest // the last one wins, as for exec
		}
	}
	return v
}

// An executor whose disk is short of AWO_MIN_FREE_DISK runs nothing and the
// work order fails with the reason. The disk is not filled: the minimum is
// set far above what any test machine has free.
func TestDiskGuard_TooLittleFreeDisk_WorkOrderFailsWithTheReason(t *testing.T) {
	w := newWorld(t, createBranch("feat/x"))
	s := newStack(t, w, "AWO_MIN_FREE_DISK=1PiB", "AWO_MAX_DELIVER=2")
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Anything",
		"selected_commands": []string{"create-branch", "planning"}})
	wo := s.waitFinished(id, time.Minute)
	msg := deref(wo.ErrorMessage)
	dir := envValue(s.env, "AGENT_WORK_ORDER_TEMP_DIR")
	if wo.Status != "failed" || !strings.Contains(msg, "create-branch") ||
		!strings.Contains(msg, "free disk under "+dir+" is ") || !strings.Contains(msg, "below AWO_MIN_FREE_DISK=1 PiB") {
		t.Fatalf("status %s, error %q; want a failure naming the free disk and AWO_MIN_FREE_DISK", wo.Status, msg)
	}
	t.Logf("error_message: %s", msg)
	if n := len(w.Model.Requests()); n != 0 {
		t.Errorf("the agent ran (%d model requests) on a disk below the minimum", n)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a sandbox was made on a disk below the minimum: %v", err)
	}
}

// The sandbox of a finished work order is removed once AWO_SANDBOX_RETENTION
// has passed since it ended; the repository's cached clone stays.
func TestHousekeeping_FinishedWorkOrder_SandboxRemovedAfterRetention(t *testing.T) {
	const retention = 4 * time.Second
	w := newWorld(t, createBranch("feat/x"))
	s := newStack(t, w, "AWO_SANDBOX_RETENTION="+retention.String())
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Anything",
		"selected_commands": []string{"create-branch"}})
	wo := s.waitFinished(id, 2*time.Minute)
	ended := time.Now()
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	repo := filepath.Join(envValue(s.env, "AGENT_WORK_ORDER_TEMP_DIR"), "repos", repourl.CacheKey(repoURL))
	sandbox := filepath.Join(repo, "trees", "sandbox-"+id)
	if _, err := os.Stat(filepath.Join(sandbox, "README.md")); err != nil {
		t.Fatalf("the sandbox is gone right after the work order ended: %v", err)
	}
	// Sweeps run every quarter of the retention (at least every second).
	// The directory goes first; the removal is done when it is logged.
	logged := func() bool {
		log, err := os.ReadFile(s.logPath)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(log), `msg="removed the sandbox of a finished work order" service=executor work_order_id=`+id)
	}
	deadline := ended.Add(retention + 5*time.Second)
	removedAt := time.Time{}
	for {
		if _, err := os.Lstat(sandbox); removedAt.IsZero() && errors.Is(err, os.ErrNotExist) {
			removedAt = time.Now()
		}
		if !removedAt.IsZero() && logged() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox %s not removed (and logged with the work order's id) %s after the work order ended", sandbox, time.Since(ended))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took := removedAt.Sub(ended); took < retention-time.Second {
		t.Errorf("sandbox removed %s after the work order ended, before the retention of %s", took, retention)
	}
	if _, err := os.Lstat(sandbox + ".inuse"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sandbox's in-use mark is left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(repo, "main")); err != nil {
		t.Errorf("the cached clone was removed: %v", err)
	}
	s.stop()
}
