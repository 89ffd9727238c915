package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/natsembed"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// A step that installs 8 MiB of dependencies without a .gitignore, with
// AWO_CHECKPOINT_MAX_BYTES=1MiB: none of it reaches the checkpoint stream
// (its bytes are read off the server), the work order's live log and the
// executor's log say what was left out, and the work order completes.
func TestCheckpoint_LargeUntrackedOutput_StaysOutOfJetStream(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	const branch = "feat/add-greeting"
	install := fm.Rule{Name: "execute", Prompt: "# Implement the plan", Turns: []fm.Turn{
		fm.Bash("printf 'hello, world\\n' > greeting.txt && for i in 1 2 3 4 5 6 7 8; do mkdir -p node_modules/pkg$i && "+
			"head -c 1048576 /dev/urandom > node_modules/pkg$i/index.js; done", "install the dependencies and implement"),
		fm.Text("Added greeting.txt."),
	}}
	commitGreeting := fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("git add greeting.txt && git commit -m 'feat: add greeting' && git push -u origin "+branch, "commit and push"),
		fm.Text("feat: add greeting"),
	}}
	w := newWorld(t, createBranch(branch), install, commitGreeting)
	s := newStack(t, w, "NATS_URL="+srv.ClientURL(), "AWO_CHECKPOINT_MAX_BYTES=1MiB")
	s.start()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute", "commit"}})
	wo := s.waitFinished(id, 3*time.Minute)
	if wo.Status != "completed" {
		t.Fatalf("status %s, error %q", wo.Status, deref(wo.ErrorMessage))
	}
	if content, ok := w.Origin.File(t, branch, "greeting.txt"); !ok || content != "hello, world\n" {
		t.Errorf("origin %s:greeting.txt = %q, %v", branch, content, ok)
	}

	// The stream keeps each work order's latest checkpoint: execute's.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(t.Context(), bus.StreamCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 || info.State.Bytes > 256<<10 {
		t.Fatalf("%s holds %d messages, %d bytes: want execute's checkpoint without the 8 MiB node_modules",
			bus.StreamCheckpoints, info.State.Msgs, info.State.Bytes)
	}

	code, body := s.do("GET", "/api/agent-work-orders/"+id+"/logs?limit=1000", nil)
	var page struct {
		Entries []liveEntry `json:"log_entries"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &page) != nil {
		t.Fatalf("GET logs: %d %s", code, tail(string(body), 3))
	}
	warned := false
	for _, e := range page.Entries {
		if e.Event == "checkpoint_left_out" && e.Level == "warning" && e.Step == "execute" &&
			strings.Contains(e.Message, "node_modules/ (8 MiB)") && strings.Contains(e.Message, "AWO_CHECKPOINT_MAX_BYTES (1 MiB)") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no checkpoint_left_out warning naming node_modules/ in the live log: %s", tail(string(body), 5))
	}
	log, _ := os.ReadFile(s.logPath)
	var line string
	for l := range strings.SplitSeq(string(log), "\n") {
		if strings.Contains(l, "leaves out untracked files") {
			line = l
		}
	}
	if !strings.Contains(line, id) || !strings.Contains(line, "node_modules/") {
		t.Errorf("the executor's log line = %q; want one with the work order's id naming node_modules/", line)
	}
}
