package webhooks_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/stdwebhook"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/syncbuf"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/github/webhooks"
)

// The secret of the Standard Webhooks specification's examples.
const (
	secret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretKey = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// verify checks a delivery as the Standard Webhooks specification says
// (written from the specification, not from the sender).
var verify = stdwebhook.Verify

// attempt is one request a receiver got.
type attempt struct {
	id       string
	body     []byte
	header   http.Header
	accepted bool
	sigErr   error
}

// receiver answers each request with respond (nil: 204 to everything)
// and records them all.
type receiver struct {
	mu       sync.Mutex
	attempts []attempt
	// respond answers attempt n (from 0) of event id; it reports whether
	// that counts as accepted.
	respond func(n int, id string, w http.ResponseWriter) bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a := attempt{id: r.Header.Get("webhook-id"), body: body, header: r.Header.Clone(), sigErr: verify(secret, r.Header, body)}
	if ct := r.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		a.sigErr = errors.Join(a.sigErr, fmt.Errorf("Content-Type %q", ct))
	}
	rc.mu.Lock()
	n := len(rc.attempts)
	rc.attempts = append(rc.attempts, a)
	rc.mu.Unlock()
	a.accepted = true
	if rc.respond != nil {
		a.accepted = rc.respond(n, a.id, w)
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
	rc.mu.Lock()
	rc.attempts[n].accepted = a.accepted
	rc.mu.Unlock()
}

func (rc *receiver) all() []attempt {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]attempt(nil), rc.attempts...)
}

// acceptedIDs are the ids of the accepted attempts, in arrival order.
func (rc *receiver) acceptedIDs() []string {
	var out []string
	for _, a := range rc.all() {
		if a.accepted {
			out = append(out, a.id)
		}
	}
	return out
}

// waitAccepted waits until n attempts were accepted.
func (rc *receiver) waitAccepted(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ids := rc.acceptedIDs()
		if len(ids) >= n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver accepted %d of %d events within %s: %v", len(ids), n, within, ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type harness struct {
	env *natstest.Env
	// senderBus, when set, is the sender's connection (another NATS
	// user's); else the env's.
	senderBus *bus.Bus
	bus       *bus.Bus
	logs      *syncbuf.Buffer
	m         *metrics.Metrics
}

func newHarness(t *testing.T) *harness {
	h := &harness{env: natstest.Start(t), logs: &syncbuf.Buffer{}, m: metrics.New()}
	h.bus = h.env.Bus("awo/test")
	t.Cleanup(func() {
		logs := h.logs.String()
		for _, s := range []string{secret, secretKey, "pw-in-url", "tok-in-query"} {
			if strings.Contains(logs, s) {
				t.Errorf("the logs hold %q", s)
			}
		}
		if t.Failed() {
			t.Logf("sender logs:\n%s", logs)
		}
	})
	return h
}

func testConfig(urls ...string) config.Webhooks {
	key, _ := base64.StdEncoding.DecodeString(secretKey)
	return config.Webhooks{
		URLs: urls, Secret: secret, Key: key, Events: config.DefaultWebhookEvents,
		MaxAge: time.Hour, Timeout: 500 * time.Millisecond, AllowPrivate: true,
	}
}

// start runs a sender until the returned stop (or the test's end) and
// waits until its consumers exist: they take the events published from
// then on.
func (h *harness) start(t *testing.T, cfg config.Webhooks) (stop func()) {
	t.Helper()
	sb := h.senderBus
	if sb == nil {
		sb = h.env.Bus("awo/github")
	}
	s, err := webhooks.New(webhooks.Options{Config: cfg, Bus: sb,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: h.m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	for _, name := range s.Consumers() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := h.env.JS.Consumer(context.Background(), bus.StreamEvents, name); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("consumer %s not created", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return stop
}

// published is an event as stored, with its stream sequence.
type published struct {
	id  string
	seq uint64
}

// lifecycle publishes a work order's lifecycle events, plus one the
// default filter leaves out (step.started).
func (h *harness) lifecycle(t *testing.T, wo workorder.ID) []published {
	t.Helper()
	evs := []events.Event{
		h.bus.Event(string(wo)+"-req", events.TypeRequested, wo, events.Requested{WorkOrderID: wo, RepositoryURL: "https://github.com/o/r", UserRequest: "fix ü \"quotes\" <b>"}),
		h.bus.Event(string(wo)+"-start", events.TypeStarted, wo, events.Started{Steps: []workorder.Step{workorder.StepCreatePR}}),
		h.bus.Event(string(wo)+"-sstart", events.TypeStepStarted, wo, events.StepStarted{Step: workorder.StepCreatePR, Attempt: 1}),
		h.bus.Event(string(wo)+"-step", events.TypeStepCompleted, wo, events.StepResult{Step: workorder.StepCreatePR, Success: true}),
		h.bus.Event(string(wo)+"-done", events.TypeCompleted, wo, events.Completed{}),
	}
	var out []published
	for _, e := range evs {
		seq, err := h.bus.PublishEvent(context.Background(), e, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != events.TypeStepStarted {
			out = append(out, published{e.ID, seq})
		}
	}
	return out
}

// feedJSON is the events SSE feed's data for the stored event at seq:
// what services/gateway/api/feed.go renders.
func (h *harness) feedJSON(t *testing.T, seq uint64) []byte {
	t.Helper()
	st, err := h.env.JS.Stream(context.Background(), bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.Decode(m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.EncodeJSON(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ids(ps ...[]published) []string {
	var out []string
	for _, p := range ps {
		for _, e := range p {
			out = append(out, e.id)
		}
	}
	return out
}

func equalIDs(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("accepted events\n got %v\nwant %v", got, want)
	}
}

// checkSigned fails on any attempt without a valid signature.
func checkSigned(t *testing.T, rc *receiver) {
	t.Helper()
	for i, a := range rc.all() {
		if a.sigErr != nil {
			t.Errorf("attempt %d (%s): %v", i, a.id, a.sigErr)
		}
	}
}

func metricsText(t *testing.T, m *metrics.Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func TestSender_FailsTimesOutThrottlesThenAccepts_EveryEventOnceInOrderSigned(t *testing.T) {
	h := newHarness(t)
	rc := &receiver{respond: func(n int, _ string, w http.ResponseWriter) bool {
		switch n {
		case 0:
			w.WriteHeader(http.StatusInternalServerError)
			return false
		case 1:
			time.Sleep(1500 * time.Millisecond) // past the 500 ms timeout
			w.WriteHeader(http.StatusNoContent)
			return false
		case 2:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return false
		}
		w.WriteHeader(http.StatusOK)
		return true
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	h.start(t, testConfig(srv.URL+"/hook"))

	a := h.lifecycle(t, "wo-aaaa0001")
	b := h.lifecycle(t, "wo-bbbb0002")
	want := ids(a, b)
	rc.waitAccepted(t, len(want), 60*time.Second)
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show
	equalIDs(t, rc.acceptedIDs(), want)
	checkSigned(t, rc)

	all := rc.all()
	// The first four attempts were of the first event, all with its id
	// (receivers de-duplicate on it), each with its own timestamp.
	for i := range 4 {
		if all[i].id != want[0] {
			t.Errorf("attempt %d carried webhook-id %s, want %s", i, all[i].id, want[0])
		}
	}
	// Retry-After: 2 was honoured (the backoff alone would have been 4 s
	// after the third failure... so check it was not sooner than 2 s).
	t2, _ := strconv.ParseInt(all[2].header.Get("webhook-timestamp"), 10, 64)
	t3, _ := strconv.ParseInt(all[3].header.Get("webhook-timestamp"), 10, 64)
	if t3-t2 < 2 {
		t.Errorf("the attempt after Retry-After: 2 came %d s later", t3-t2)
	}
	// The body is the SSE feed's CloudEvents JSON, byte for byte.
	byID := map[string][]byte{}
	for _, x := range all {
		if x.accepted {
			byID[x.id] = x.body
		}
	}
	for _, p := range append(a, b...) {
		if want := h.feedJSON(t, p.seq); string(byID[p.id]) != string(want) {
			t.Errorf("event %s body\n %s\nwant the feed's\n %s", p.id, byID[p.id], want)
		}
	}
	text := metricsText(t, h.m)
	for _, line := range []string{
		`awo_webhook_delivered_total{host="127.0.0.1"} 8`,
		`awo_webhook_retried_total{host="127.0.0.1"} 3`,
		`awo_webhook_attempt_duration_seconds_count{host="127.0.0.1"} 11`,
	} {
		if !strings.Contains(text, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

func TestSender_ReceiverDown_GetsEverythingWhenBack(t *testing.T) {
	h := newHarness(t)
	// A port nobody listens on: connections are refused until the
	// receiver comes up there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	h.start(t, testConfig("http://"+addr+"/hook"))

	a := h.lifecycle(t, "wo-cccc0003")
	time.Sleep(2500 * time.Millisecond) // three refused attempts
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	rc := &receiver{}
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	b := h.lifecycle(t, "wo-dddd0004")

	want := ids(a, b)
	rc.waitAccepted(t, len(want), 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	equalIDs(t, rc.acceptedIDs(), want)
	checkSigned(t, rc)
	if !strings.Contains(metricsText(t, h.m), `awo_webhook_retried_total{host="127.0.0.1"}`) {
		t.Error("the refused attempts were not counted as retried")
	}
}

func TestSender_ClientError_DeadLetteredAtOnceWithReason(t *testing.T) {
	h := newHarness(t)
	const wo = workorder.ID("wo-eeee0005")
	rc := &receiver{respond: func(_ int, id string, w http.ResponseWriter) bool {
		if id == string(wo)+"-start" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "unexpected field\nsteps")
			return false
		}
		w.WriteHeader(http.StatusAccepted)
		return true
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	// Credentials in the URL must reach the receiver but no log or dead
	// letter.
	u := strings.Replace(srv.URL, "http://", "http://hook:pw-in-url@", 1) + "/in?token=tok-in-query"
	h.start(t, testConfig(u))

	p := h.lifecycle(t, wo)
	want := []string{p[0].id, p[2].id, p[3].id}
	rc.waitAccepted(t, len(want), 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	equalIDs(t, rc.acceptedIDs(), want)
	tries := 0
	for _, a := range rc.all() {
		if a.id == p[1].id {
			tries++
		}
		if a.header.Get("Authorization") == "" {
			t.Errorf("attempt %s without the URL's credentials", a.id)
		}
	}
	if tries != 1 {
		t.Errorf("the refused event was sent %d times, want once", tries)
	}

	dl := lastDLQ(t, h, "workorders.dlq.webhooks."+string(wo))
	hdr := dl.Header
	if e := hdr.Get(bus.HeaderDLQError); !strings.Contains(e, "400 Bad Request") || !strings.Contains(e, "unexpected field steps") {
		t.Errorf("dead letter reason %q", e)
	}
	if got := hdr.Get(webhooks.HeaderDLQWebhookURL); got != srv.URL+"/in" {
		t.Errorf("dead letter URL %q, want %q", got, srv.URL+"/in")
	}
	if got := hdr.Get(bus.HeaderDLQConsumer); got != webhooks.ConsumerName(u) {
		t.Errorf("dead letter consumer %q", got)
	}
	if got := hdr.Get("ce-id"); got != p[1].id {
		t.Errorf("dead letter of %q, want %s", got, p[1].id)
	}
	for k, vs := range hdr {
		for _, v := range vs {
			if strings.Contains(v, "pw-in-url") || strings.Contains(v, "tok-in-query") {
				t.Errorf("dead letter header %s holds the URL's credentials: %s", k, v)
			}
		}
	}
	if !strings.Contains(metricsText(t, h.m), `awo_webhook_failed_total{host="127.0.0.1"} 1`) {
		t.Error("the given-up delivery was not counted")
	}
}

func lastDLQ(t *testing.T, h *harness, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	st, err := h.env.JS.Stream(context.Background(), bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := st.GetLastMsgForSubject(context.Background(), subject)
		if err == nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter on %s: %v", subject, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSender_RestartMidRetry_LosesNothing(t *testing.T) {
	h := newHarness(t)
	failing := make(chan struct{}, 10)
	rc := &receiver{respond: func(n int, _ string, w http.ResponseWriter) bool {
		if n < 2 {
			failing <- struct{}{}
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		w.WriteHeader(http.StatusNoContent)
		return true
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := testConfig(srv.URL)
	stop := h.start(t, cfg)
	a := h.lifecycle(t, "wo-ffff0006")
	<-failing
	stop() // the first event waits for its retry, the others behind it
	b := h.lifecycle(t, "wo-ffff0007")
	if got := rc.acceptedIDs(); len(got) != 0 {
		t.Fatalf("accepted before the restart: %v", got)
	}
	h.start(t, cfg)
	want := ids(a, b)
	rc.waitAccepted(t, len(want), 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	equalIDs(t, rc.acceptedIDs(), want)
	checkSigned(t, rc)
}

func TestNew_RefusesPrivateTargetsUnlessAllowed(t *testing.T) {
	env := natstest.Start(t)
	for _, u := range []string{"http://127.0.0.1:8080/h", "http://localhost/h", "https://192.168.1.10/", "http://[fe80::1]/", "http://169.254.169.254/latest"} {
		cfg := testConfig(u)
		cfg.AllowPrivate = false
		_, err := webhooks.New(webhooks.Options{Config: cfg, Bus: env.Bus("t")})
		if err == nil || !strings.Contains(err.Error(), "AWO_WEBHOOK_ALLOW_PRIVATE") {
			t.Errorf("%s: err = %v, want a refusal", u, err)
		}
		cfg.AllowPrivate = true
		if _, err := webhooks.New(webhooks.Options{Config: cfg, Bus: env.Bus("t")}); err != nil {
			t.Errorf("%s with AllowPrivate: %v", u, err)
		}
	}
}

// A name that passes the start-up check but resolves to a private
// address is refused when connecting (DNS rebinding), and given up.
func TestSender_NameResolvingToPrivateAddress_RefusedAtConnect(t *testing.T) {
	host, err := privateName()
	if err != nil {
		t.Skip(err)
	}
	h := newHarness(t)
	rc := &receiver{}
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	cfg := testConfig("http://" + net.JoinHostPort(host, port) + "/hook")
	cfg.AllowPrivate = false
	h.start(t, cfg)
	const wo = workorder.ID("wo-99990008")
	h.lifecycle(t, wo)
	dl := lastDLQ(t, h, "workorders.dlq.webhooks."+string(wo))
	if e := dl.Header.Get(bus.HeaderDLQError); !strings.Contains(e, "AWO_WEBHOOK_ALLOW_PRIVATE") {
		t.Errorf("dead letter reason %q", e)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(rc.all()); n != 0 {
		t.Errorf("the receiver on a private address got %d requests", n)
	}
}

// privateName is a host name of this machine (not one the start-up check
// knows as loopback) that resolves to a loopback or private address.
func privateName() (string, error) {
	for _, name := range []string{hostname(), "ip6-localhost"} {
		if name == "" {
			continue
		}
		if config.CheckWebhookURL("http://"+name+"/", false) != "" {
			continue
		}
		addrs, err := net.LookupHost(name)
		if err != nil || len(addrs) == 0 {
			continue
		}
		private := true
		for _, a := range addrs {
			private = private && config.CheckWebhookURL("http://"+net.JoinHostPort(a, "80")+"/", false) != ""
		}
		if private {
			return name, nil
		}
	}
	return "", errors.New("no host name here resolves to a private address only the connection check can see")
}

func hostname() string {
	n, _ := os.Hostname()
	return n
}

func TestSender_RetriesUntilMaxAge_ThenDeadLetters(t *testing.T) {
	h := newHarness(t)
	rc := &receiver{respond: func(_ int, _ string, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusBadGateway)
		return false
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.MaxAge = 2 * time.Second
	h.start(t, cfg)
	const wo = workorder.ID("wo-aaaa0009")
	e := h.bus.Event("wo-aaaa0009-done", events.TypeCompleted, wo, events.Completed{})
	if _, err := h.bus.PublishEvent(context.Background(), e, nil); err != nil {
		t.Fatal(err)
	}
	dl := lastDLQ(t, h, "workorders.dlq.webhooks."+string(wo))
	if r := dl.Header.Get(bus.HeaderDLQError); !strings.Contains(r, "AWO_WEBHOOK_MAX_AGE") || !strings.Contains(r, "502") {
		t.Errorf("dead letter reason %q", r)
	}
	// Attempts at 0 s, 1 s and at the deadline (2 s), then no more.
	n := len(rc.all())
	time.Sleep(1500 * time.Millisecond)
	if m := len(rc.all()); m != n || n < 2 || n > 4 {
		t.Errorf("%d attempts before giving up, %d after", n, m)
	}
}

// A sender that dies mid-attempt (its connection gone, as when the
// process is killed: no nak, no ack) loses nothing: JetStream sends the
// event again after the consumer's ack wait (30 s), to the next sender.
func TestSender_KilledMidAttempt_EventSentAgainAfterAckWait(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 30 s ack wait")
	}
	h := newHarness(t)
	inFlight := make(chan struct{})
	rc := &receiver{respond: func(n int, _ string, w http.ResponseWriter) bool {
		if n == 0 {
			close(inFlight)
			time.Sleep(300 * time.Millisecond)
			w.WriteHeader(http.StatusServiceUnavailable)
			return false
		}
		w.WriteHeader(http.StatusNoContent)
		return true
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := testConfig(srv.URL)

	nc, js := h.env.Client(t, "doomed")
	s, err := webhooks.New(webhooks.Options{Config: cfg, Bus: bus.New(js, "awo/github"),
		Logger: slog.New(slog.NewTextHandler(h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	waitConsumer(t, h, webhooks.ConsumerName(srv.URL))
	a := h.lifecycle(t, "wo-dead0011")
	<-inFlight
	nc.Close() // the "kill": the attempt's outcome never reaches JetStream
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sender did not stop when its connection closed")
	}

	h.start(t, cfg)
	want := ids(a)
	rc.waitAccepted(t, len(want), 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	equalIDs(t, rc.acceptedIDs(), want)
	checkSigned(t, rc)
}

func waitConsumer(t *testing.T, h *harness, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.env.JS.Consumer(context.Background(), bus.StreamEvents, name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s not created", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
