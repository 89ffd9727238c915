package webhooks_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// The github service's NATS user of deploy/nats/awo.conf may do all the
// sender does: create and read its consumer, ack, and dead-letter.
func TestSender_AsTheGitHubUserOfTheExampleNATSConfig(t *testing.T) {
	for _, u := range []string{"ADMIN", "GATEWAY", "ORCHESTRATOR", "EXECUTOR", "GITHUB"} {
		t.Setenv("AWO_NATS_"+u+"_PASSWORD", "pw-"+strings.ToLower(u))
	}
	conf, err := filepath.Abs("../../../deploy/nats/awo.conf")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0", ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	var mu sync.Mutex
	var refused []string
	connect := func(user string) (*nats.Conn, jetstream.JetStream) {
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(user, "pw-"+user),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				if errors.Is(err, nats.ErrPermissionViolation) {
					mu.Lock()
					refused = append(refused, err.Error())
					mu.Unlock()
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return nc, js
	}
	adminNC, adminJS := connect("admin")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, adminJS, bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	_, ghJS := connect("github")
	h := &harness{env: &natstest.Env{Server: srv, NC: adminNC, JS: adminJS}, senderBus: bus.New(ghJS, "awo/github"),
		logs: &syncbuf.Buffer{}, m: metrics.New()}
	h.bus = bus.New(adminJS, "awo/test")

	const wo = workorder.ID("wo-abcd0010")
	rc := &receiver{respond: func(_ int, id string, w http.ResponseWriter) bool {
		if id == string(wo)+"-step" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return false
		}
		w.WriteHeader(http.StatusOK)
		return true
	}}
	hs := httptest.NewServer(rc)
	defer hs.Close()
	h.start(t, testConfig(hs.URL))
	p := h.lifecycle(t, wo)
	rc.waitAccepted(t, 3, 30*time.Second)
	equalIDs(t, rc.acceptedIDs(), []string{p[0].id, p[1].id, p[3].id})
	lastDLQ(t, h, "workorders.dlq.webhooks."+string(wo))
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(refused) > 0 {
		t.Errorf("permission violations: %v", refused)
	}
}
