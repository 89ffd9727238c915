package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/stdwebhook"
)

// receiver records the deliveries it accepted, verifying each one's
// Standard Webhooks signature.
type receiver struct {
	t     *testing.T
	whsec string
	mu    sync.Mutex
	got   []delivered // accepted, in arrival order
	bad   []string    // deliveries that failed verification
}

type delivered struct {
	ID, Type, Subject string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ce struct{ ID, Type, Subject string }
	err := stdwebhook.Verify(rc.whsec, r.Header, body)
	if err == nil && r.Header.Get("Content-Type") != "application/cloudevents+json" {
		err = &json.UnsupportedValueError{Str: "Content-Type " + r.Header.Get("Content-Type")}
	}
	if err == nil {
		err = json.Unmarshal(body, &ce)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil || ce.ID != r.Header.Get("webhook-id") {
		rc.bad = append(rc.bad, r.Header.Get("webhook-id")+": "+errString(err))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, delivered{ce.ID, ce.Type, ce.Subject})
	w.WriteHeader(http.StatusNoContent)
}

func errString(err error) string {
	if err == nil {
		return "webhook-id is not the CloudEvent's id"
	}
	return err.Error()
}

// typesOf is the short types (workorder.completed) received for id.
func (rc *receiver) typesOf(id string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, d := range rc.got {
		if d.Subject == id {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(d.Type, "io.archon.workorders."), ".v1"))
		}
	}
	return out
}

// A receiver that is down when a work order starts gets every lifecycle
// event of it once it is back: in order, each once, each signed as the
// Standard Webhooks specification says. The all-in-one's github service
// sends them, through the real Claude Code CLI run.
func TestWebhooks_ReceiverDownForPartOfTheRun_GetsEveryLifecycleEvent(t *testing.T) {
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte("e2e-webhook-signing-key-32-bytes"))
	port := freePort(t)
	w := newWorld(t, createBranch(followUpBranch), executeThenFollowUp(0), commitAndPush())
	s := newStack(t, w, "AWO_WEBHOOK_URLS=http://127.0.0.1:"+port+"/hook", "AWO_WEBHOOK_SECRET="+whsec,
		"AWO_WEBHOOK_ALLOW_PRIVATE=true")
	s.start()

	// Nothing listens on the port yet: every delivery fails and is retried.
	id := s.create(map[string]any{"repository_url": repoURL, "user_request": "Add a greeting file",
		"selected_commands": []string{"create-branch", "execute", "commit", "create-pr"}})
	s.waitFor(id, 2*time.Minute, "the execute step", func(wo workOrder) bool {
		return deref(wo.CurrentPhase) == "execute" || wo.Status != "running" && wo.Status != "pending"
	})

	// The deliveries so far failed and are being retried (connection
	// refused): the receiver really was down for this part of the run.
	deadline := time.Now().Add(30 * time.Second)
	for retried := 0.0; retried == 0; {
		retried = metricValue(t, s, `awo_webhook_retried_total{host="127.0.0.1"}`)
		if retried == 0 && time.Now().After(deadline) {
			t.Fatal("no webhook delivery was retried while the receiver was down")
		}
		time.Sleep(100 * time.Millisecond)
	}

	rc := &receiver{t: t, whsec: whsec}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("the receiver's port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	if wo := s.waitFinished(id, 3*time.Minute); wo.Status != "completed" {
		t.Fatalf("work order %s: %s", wo.Status, deref(wo.ErrorMessage))
	}
	want := []string{"workorder.requested", "workorder.started", "step.completed", "step.completed",
		"step.completed", "step.completed", "workorder.completed"}
	deadline = time.Now().Add(90 * time.Second) // retries back off: 1 s doubling
	for !slices.Equal(rc.typesOf(id), want) && len(rc.typesOf(id)) <= len(want) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Errorf("deliveries failing verification: %q", rc.bad)
	}
	var got []string
	seen := map[string]bool{}
	for _, d := range rc.got {
		if d.Subject != id {
			continue
		}
		if seen[d.ID] {
			t.Errorf("event %s accepted twice", d.ID)
		}
		seen[d.ID] = true
		got = append(got, strings.TrimSuffix(strings.TrimPrefix(d.Type, "io.archon.workorders."), ".v1"))
	}
	if !slices.Equal(got, want) {
		log, _ := os.ReadFile(s.logPath)
		t.Fatalf("received %q, want %q in that order\n%s", got, want, tail(string(log), 30))
	}
}

// metricValue is the value of the sample named series on the all-in-one's
// /metrics, 0 when it is not there.
func metricValue(t *testing.T, s *stack, series string) float64 {
	t.Helper()
	code, out := s.do("GET", "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
