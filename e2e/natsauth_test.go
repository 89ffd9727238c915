package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/repocheck"
	fm "github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// The example configuration deploy/nats/awo.conf is enough for the services
// run as separate binaries, each as its own NATS user, to take a work order
// to a pull request without one permission violation; and the server
// refuses what each user has no business doing.
func TestNATSAuth_ExampleConfig_RunsAWorkOrderAndRefusesForbiddenPublishes(t *testing.T) {
	passwords := map[string]string{}
	for _, user := range []string{"admin", "gateway", "orchestrator", "executor", "github"} {
		passwords[user] = "test-pw-" + user
		t.Setenv("AWO_NATS_"+strings.ToUpper(user)+"_PASSWORD", passwords[user])
	}
	conf, err := filepath.Abs("../deploy/nats/awo.conf")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if !srv.RequiresAuthentication() {
		t.Fatal("the example configuration does not require authentication")
	}

	const branch = "feat/least-privilege"
	w := newWorld(t, createBranch(branch), fm.Rule{Name: "commit", Prompt: "# Commit and push", Turns: []fm.Turn{
		fm.Bash("printf 'hi\\n' > hi.txt && git add -A && git commit -m 'feat: say hi' && git push -u origin "+branch, "commit"),
		fm.Text("feat: say hi"),
	}})
	s := newStack(t, w)
	s.env = append(s.env, "NATS_URL="+srv.ClientURL())
	for _, name := range serviceBinaries {
		s.startService(name, "NATS_USER="+name, "NATS_PASSWORD="+passwords[name])
	}
	s.waitHealthy()

	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Say hi",
		"selected_commands": []string{"create-branch", "commit", "create-pr"}})
	wo := s.waitFinished(id, 2*time.Minute)
	if wo.Status != "completed" || !strings.Contains(deref(wo.PRURL), "/pull/") {
		t.Fatalf("work order %+v, error %q", wo, deref(wo.ErrorMessage))
	}
	// The gateway user writes and watches the configured-repository bucket.
	if code, out := s.do("POST", "/api/agent-work-orders/repositories", map[string]any{"repository_url": repoURL, "verify": false}); code != 201 {
		t.Errorf("POST /repositories as the gateway user: %d %s", code, out)
	}
	if code, out := s.do("GET", "/api/agent-work-orders/repositories", nil); code != 200 || !strings.Contains(string(out), `"is_verified":false`) {
		t.Errorf("GET /repositories as the gateway user: %d %s", code, out)
	}
	// A follow-up prompt is the gateway's to record, and its round the
	// orchestrator's and the workers' to run (how it ends does not matter
	// here, only that nobody is refused a subject).
	if code, out := s.do("POST", "/api/agent-work-orders/"+id+"/prompt", map[string]any{"prompt_text": "Say it twice"}); code != 202 {
		t.Fatalf("follow-up prompt: %d %s", code, out)
	}
	s.waitFinished(id, 2*time.Minute)
	if log, _ := os.ReadFile(s.logPath); strings.Contains(strings.ToLower(string(log)), "permissions violation") {
		t.Errorf("a service was refused something it needs:\n%s", grepLines(string(log), "ermissions"))
	}

	// The gateway's user may ask the github service about a repository,
	// and the github service's user may answer.
	gw, _ := connectAs(t, srv.ClientURL(), "gateway", passwords["gateway"])
	check, err := repocheck.NewClient(gw, 10*time.Second).Verify(context.Background(), repoURL)
	gw.Close()
	if err != nil || !check.Accessible {
		t.Errorf("repository check as the gateway user: %+v, %v", check, err)
	}

	gatewayWritesReadModelSnapshots(t, srv.ClientURL(), passwords)

	// What each user must not do.
	forbidden := []struct {
		user, subject string
	}{
		{"gateway", "workorders.events." + id + ".step.completed"},
		{"gateway", "workorders.commands.executor.planning"},
		{"executor", "workorders.events." + id + ".workorder.requested"},
		{"executor", "workorders.events." + id + ".workorder.completed"},
		{"executor", "workorders.events." + id + ".workorder.follow_up_requested"},
		{"github", "workorders.events." + id + ".workorder.cancelled"},
		{"orchestrator", "workorders.events." + id + ".step.completed"},
		{"orchestrator", "$JS.API.STREAM.DELETE.WORKORDERS_EVENTS"},
		{"executor", "$JS.API.STREAM.PURGE.WORKORDERS_EVENTS"},
		{"gateway", "$JS.API.STREAM.UPDATE.WORKORDERS_EVENTS"},
		// The gateway may purge its snapshot bucket, and no other stream.
		{"gateway", "$JS.API.STREAM.PURGE.WORKORDERS_EVENTS"},
		{"gateway", "$JS.API.STREAM.PURGE.KV_AWO_IDEMPOTENCY"},
	}
	for _, f := range forbidden {
		nc, refusals := connectAs(t, srv.ClientURL(), f.user, passwords[f.user])
		if err := nc.Publish(f.subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if !refusals.waitFor(f.subject, 5*time.Second) {
			t.Errorf("%s publishing %s: no permissions violation", f.user, f.subject)
		}
		nc.Close()
	}

	// A service user deleting the event stream through the JetStream API
	// gets no answer, and the stream stays.
	nc, _ := connectAs(t, srv.ClientURL(), "executor", passwords["executor"])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "WORKORDERS_EVENTS"); err == nil {
		t.Error("the executor user deleted WORKORDERS_EVENTS")
	}
	admin, _ := connectAs(t, srv.ClientURL(), "admin", passwords["admin"])
	ajs, _ := jetstream.New(admin)
	st, err := ajs.Stream(context.Background(), "WORKORDERS_EVENTS")
	if err != nil || st.CachedInfo().State.Msgs == 0 {
		t.Fatalf("WORKORDERS_EVENTS after the attempts: %v", err)
	}
	// And without credentials nobody gets in.
	if _, err := nats.Connect(srv.ClientURL()); err == nil || !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous connection: %v", err)
	}
}

// refusals collects the subjects the server refused a connection.
type refusals struct {
	mu   sync.Mutex
	errs []string
}

func (r *refusals) waitFor(subject string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, e := range r.errs {
			if strings.Contains(e, `"`+subject+`"`) {
				r.mu.Unlock()
				return true
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func connectAs(t *testing.T, url, user, password string) (*nats.Conn, *refusals) {
	t.Helper()
	r := &refusals{}
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			r.mu.Lock()
			r.errs = append(r.errs, err.Error())
			r.mu.Unlock()
		}
	}))
	if err != nil {
		t.Fatalf("connecting as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc, r
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// gatewayWritesReadModelSnapshots does as the gateway user what the
// memory read model's snapshot keeper does (services/gateway/snapshot):
// open the bucket, replace the object, read it back; and checks that the
// replaced version's chunks were purged, which Put does without saying
// whether it could.
func gatewayWritesReadModelSnapshots(t *testing.T, url string, passwords map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, refusals := connectAs(t, url, "gateway", passwords["gateway"])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "AWO_READMODEL_SNAPSHOTS"})
	if err != nil {
		t.Fatalf("the gateway user opening the snapshot bucket: %v", err)
	}
	for _, v := range []string{"first", "second"} {
		if _, err := obs.PutBytes(ctx, "memory", []byte(v)); err != nil {
			t.Fatalf("the gateway user writing a snapshot: %v", err)
		}
	}
	if _, err := obs.GetInfo(ctx, "memory"); err != nil {
		t.Fatalf("the gateway user reading the snapshot's info: %v", err)
	}
	if got, err := obs.GetBytes(ctx, "memory"); err != nil || string(got) != "second" {
		t.Fatalf("the gateway user reading the snapshot: %q, %v", got, err)
	}
	admin, _ := connectAs(t, url, "admin", passwords["admin"])
	ajs, _ := jetstream.New(admin)
	st, err := ajs.Stream(ctx, "OBJ_AWO_READMODEL_SNAPSHOTS")
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 2 {
		t.Errorf("the snapshot bucket holds %d messages, want 2 (a chunk and the meta): the replaced chunks were not purged", n)
	}
	refusals.mu.Lock()
	defer refusals.mu.Unlock()
	if len(refusals.errs) > 0 {
		t.Errorf("the gateway user's snapshot writes were refused: %v", refusals.errs)
	}
}
