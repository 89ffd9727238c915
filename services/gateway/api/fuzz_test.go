package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/logentry"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/api"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
	"github.com/agentworkorders/awo/services/gateway/projector"
	"github.com/agentworkorders/awo/services/gateway/repositories"
)

// FuzzAPI drives the real router over real parts (an embedded JetStream
// behind bus.New, the memory store fed by the real projector, the
// idempotency store, the live-log stream) with generated requests: any
// method, a path from the route list with fuzzed ids and extra segments, a
// query string, the headers the API reads and a body. It fails on any
// answer of 500 or more (a recovered panic is a 500) and on a 4xx without a
// {"detail": ...} body.
//
// The real JetStream rather than a fake Publisher: a create, cancel or
// retry costs well under a millisecond in-process, and a fake would hide
// exactly the failures worth finding (a subject or message id that
// JetStream refuses, a header NATS cannot carry).
//
// With AWO_FUZZ_REPORT set to a directory, each process writes its counts
// there (see fuzzCounts); make fuzz adds them up.
func FuzzAPI(f *testing.F) {
	target := newFuzzTarget(f)
	for _, seed := range fuzzSeeds(target.ids) {
		f.Add(seed.method, seed.route, seed.id, seed.tail, seed.query, seed.contentType, seed.lastEventID,
			seed.idempotencyKey, seed.authorization, seed.host, seed.origin, seed.body)
	}
	report := os.Getenv("AWO_FUZZ_REPORT")
	f.Fuzz(func(t *testing.T, method, route uint8, id, tail, query, contentType, lastEventID, idempotencyKey, authorization, host, origin string, body []byte) {
		in := fuzzInput{method, route, id, tail, query, contentType, lastEventID, idempotencyKey, authorization, host, origin, body}
		target.run(t, in)
		if report != "" {
			target.counts.write(report)
		}
	})
}

// fuzzTarget is the API under test, built once per fuzzing process.
type fuzzTarget struct {
	handler http.Handler
	ids     []string // work orders that exist: pending, running, failed
	counts  fuzzCounts
}

// newFuzzTarget builds the handler the fuzzer drives. configure adjusts
// the options (a part that adds settings, such as API tokens, sets them
// here); by default they are api.New's, except a small list cap so that
// listing the work orders the fuzzer creates stays cheap.
func newFuzzTarget(tb testing.TB, configure ...func(*api.Options)) *fuzzTarget {
	tb.Helper()
	env := natstest.Start(tb)
	b := env.Bus("awo/gateway")
	store := readmodel.NewMemory()
	proj := projector.New(env.JS, store, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = proj.Run(ctx)
	}()
	tb.Cleanup(func() { cancel(); <-done })
	keys, err := idempotency.Open(context.Background(), env.JS, bus.Replication{})
	if err != nil {
		tb.Fatal(err)
	}
	// The repository routes on the real bucket, mirrored into the store;
	// the github service's answer is never "unavailable" here, since a 502
	// for GitHub being down is no answer to a client's bytes.
	bucket, err := repositories.Open(context.Background(), env.JS, bus.Replication{})
	if err != nil {
		tb.Fatal(err)
	}
	mirror := projector.NewRepositories(bucket, store, quiet)
	mirrored := make(chan struct{})
	go func() {
		defer close(mirrored)
		_ = mirror.Run(ctx)
	}()
	tb.Cleanup(func() { cancel(); <-mirrored })
	o := api.Options{
		Publisher: b, Store: store, Projection: proj, LogStream: b, Idempotency: keys,
		Logger: quiet, StorageType: "memory", Version: "fuzz", ListMax: 50,
		Repositories: bucket, RepositoryProjection: mirror, Verifier: fuzzVerifier{},
	}
	for _, c := range configure {
		c(&o)
	}
	ft := &fuzzTarget{handler: api.New(o)}

	// Three work orders in different states, one with a live log, so that
	// fuzzed requests reach cancel, retry, the log filters and the stream.
	for i, state := range []string{"pending", "running", "failed"} {
		id := fmt.Sprintf("wo-f0220%03d", i)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/agent-work-orders/", strings.NewReader(
			`{"agent_work_order_id": "`+id+`", "repository_url": "https://github.com/acme/demo", "user_request": "Fix issue #7"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Host = "localhost"
		ft.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			tb.Fatalf("creating %s: %d %s", id, rec.Code, rec.Body)
		}
		wo := workorder.ID(id)
		var evs []events.Event
		if state != "pending" {
			evs = append(evs, b.Event(id+".started", events.TypeStarted, wo, &events.Started{SandboxIdentifier: wo.SandboxIdentifier()}))
		}
		if state == "failed" {
			evs = append(evs, b.Event(id+".failed", events.TypeFailed, wo, &events.Failed{Step: workorder.StepPlanning, ErrorMessage: "claude exited 1"}))
		}
		var seq uint64
		for _, e := range evs {
			if seq, err = b.PublishEvent(context.Background(), e, nil); err != nil {
				tb.Fatal(err)
			}
		}
		for j, level := range []logentry.Level{logentry.LevelInfo, logentry.LevelError} {
			entry, _ := json.Marshal(logentry.Entry{Timestamp: time.Now().UTC(), Level: level, Step: workorder.StepPlanning,
				Event: logentry.EventAssistantText, Message: fmt.Sprintf("line %d", j), WorkOrderID: wo, Attempt: 1})
			if _, err := env.JS.Publish(context.Background(), logentry.Subject(wo), entry); err != nil {
				tb.Fatal(err)
			}
		}
		if seq > 0 {
			wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := proj.WaitFor(wctx, seq)
			wcancel()
			if err != nil {
				tb.Fatal(err)
			}
		}
		ft.ids = append(ft.ids, id)
	}
	return ft
}

// fuzzInput is one generated request.
type fuzzInput struct {
	method, route                                                                          uint8
	id, tail, query, contentType, lastEventID, idempotencyKey, authorization, host, origin string
	body                                                                                   []byte
}

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions,
	http.MethodPut, http.MethodDelete, http.MethodPatch}

// fuzzRoutes are the API's routes; {id} is replaced by the fuzzed id. The
// last one, "", takes the fuzzed tail as the whole path.
var fuzzRoutes = []string{
	"/", "/health", "/openapi.json", "/metrics", "/docs",
	"/api/agent-work-orders", "/api/agent-work-orders/",
	"/api/agent-work-orders/{id}",
	"/api/agent-work-orders/{id}/steps",
	"/api/agent-work-orders/{id}/cancel",
	"/api/agent-work-orders/{id}/retry",
	"/api/agent-work-orders/{id}/git-progress",
	"/api/agent-work-orders/{id}/logs",
	"/api/agent-work-orders/{id}/logs/stream",
	"/api/agent-work-orders/events",
	"/api/agent-work-orders/{id}/prompt",
	"/api/agent-work-orders/repositories",
	"/api/agent-work-orders/repositories/{id}",
	"/api/agent-work-orders/repositories/{id}/verify",
	"/api/agent-work-orders/github/verify-repository",
	"",
}

// fuzzVerifier answers as the github service would for a reachable GitHub.
type fuzzVerifier struct{}

func (fuzzVerifier) Verify(_ context.Context, url string) (repocheck.Result, error) {
	if strings.Contains(url, "private") {
		return repocheck.Result{ErrorMessage: "Could not resolve to a Repository"}, nil
	}
	return repocheck.Result{Accessible: true, Name: "acme/demo", Owner: "acme", DefaultBranch: "main"}, nil
}

// fuzzDeadline bounds one request: none has a reason to take long. A log
// stream, which answers until its work order ends, is left as soon as it
// starts (see hangUp).
const fuzzDeadline = 10 * time.Second

// request builds the HTTP request for in; false when no client could send
// it (the method is not a token): net/http answers such lines itself.
func (in fuzzInput) request() (*http.Request, context.CancelFunc, bool) {
	method := fuzzMethods[int(in.method)%len(fuzzMethods)]
	path := fuzzRoutes[int(in.route)%len(fuzzRoutes)]
	if path == "" {
		path = "/" + strings.TrimPrefix(in.tail, "/")
	} else {
		path = strings.ReplaceAll(path, "{id}", in.id) + in.tail
	}
	target := path
	if in.query != "" {
		target += "?" + in.query
	}
	// A byte a client cannot put in a request line goes percent-encoded,
	// so it still reaches the handlers, as it would over the wire.
	u, err := url.ParseRequestURI(target)
	if err != nil || strings.ContainsAny(target, " \x00\r\n\t\x7f") {
		u = &url.URL{Path: path, RawQuery: escapeQuery(in.query)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
	req, err := http.NewRequestWithContext(ctx, method, "http://localhost/", bytes.NewReader(in.body))
	if err != nil {
		cancel()
		return nil, nil, false
	}
	req.URL = u
	req.RequestURI = u.RequestURI()
	req.Host = in.host
	if req.Host == "" {
		req.Host = "localhost:8053"
	}
	// Headers are set raw, control bytes and all: net/http's server would
	// refuse some of them, the handlers must cope with every one anyway.
	for name, v := range map[string]string{
		"Content-Type": in.contentType, "Last-Event-Id": in.lastEventID,
		"Idempotency-Key": in.idempotencyKey, "Authorization": in.authorization, "Origin": in.origin,
	} {
		if v != "" {
			req.Header[name] = []string{v}
		}
	}
	if in.origin != "" && method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "content-type, idempotency-key")
	}
	return req, cancel, true
}

// escapeQuery percent-encodes every byte of q a URL may not hold raw,
// keeping '&', '=' and existing escapes, so the pairs stay pairs.
func escapeQuery(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c > ' ' && c < 0x7f && c != '#' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func (ft *fuzzTarget) run(t *testing.T, in fuzzInput) {
	req, cancel, ok := in.request()
	if !ok {
		ft.counts.skipped.Add(1)
		return
	}
	defer cancel()
	rec := &hangUp{ResponseRecorder: httptest.NewRecorder(), leave: cancel}
	ft.handler.ServeHTTP(rec, req)
	status := rec.Code
	ft.counts.add(status)
	switch {
	case status >= 500:
		t.Errorf("%s %s (Content-Type %q, Last-Event-ID %q, Idempotency-Key %q, Authorization %q, Host %q, body %.200q) answered %d: %.500s",
			req.Method, req.URL.RequestURI(), in.contentType, in.lastEventID, in.idempotencyKey, in.authorization, in.host, in.body, status, rec.Body)
	case status >= 400 && req.Method != http.MethodHead:
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["detail"] == nil {
			t.Errorf("%s %s answered %d without a {\"detail\": ...} body: %.300s", req.Method, req.URL.RequestURI(), status, rec.Body)
		}
	}
}

// hangUp is a client that leaves a log stream as soon as it starts (the
// first flush), as a browser tab closed at once would; the stream must then
// end, and everything else has answered by then anyway.
type hangUp struct {
	*httptest.ResponseRecorder
	leave context.CancelFunc
}

func (w *hangUp) Flush() {
	w.ResponseRecorder.Flush()
	w.leave()
}

// fuzzCounts are one process's answers by class. A fuzzing run has one
// process per worker, each writing its own file.
type fuzzCounts struct {
	inputs, skipped atomic.Int64
	byClass         [6]atomic.Int64 // index: status / 100
}

func (c *fuzzCounts) add(status int) {
	c.inputs.Add(1)
	if cls := status / 100; cls >= 1 && cls <= 5 {
		c.byClass[cls].Add(1)
	}
}

// write replaces this process's report under dir: "name value" lines, one
// file per process id, summed by make fuzz.
func (c *fuzzCounts) write(dir string) {
	s := fmt.Sprintf("inputs %d\nskipped %d\n2xx %d\n3xx %d\n4xx %d\n5xx %d\n",
		c.inputs.Load(), c.skipped.Load(), c.byClass[2].Load(), c.byClass[3].Load(), c.byClass[4].Load(), c.byClass[5].Load())
	name := filepath.Join(dir, strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(name+".tmp", []byte(s), 0o644); err == nil {
		_ = os.Rename(name+".tmp", name)
	}
}

// Route and method indices of fuzzRoutes and fuzzMethods, for the seeds.
const (
	mGet, mPost, mHead, mOptions, mPut, mDelete, mPatch uint8 = 0, 1, 2, 3, 4, 5, 6

	rRoot, rHealth, rOpenAPI, rMetrics, rDocs, rList, rListSlash, rGet, rSteps,
	rCancel, rRetry, rGitProgress, rLogs, rStream, rEvents, rPrompt, rRepos, rRepo, rRepoVerify,
	rGitHubVerify, rRaw uint8 = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20
)

// fuzzSeed is one seed input; zero fields are left out of the request.
type fuzzSeed struct {
	method, route                                                                          uint8
	id, tail, query, contentType, lastEventID, idempotencyKey, authorization, host, origin string
	body                                                                                   []byte
}

// fuzzSeeds are valid requests to every route and the nasty forms each
// parameter has been seen in, for the mutator to start from.
func fuzzSeeds(ids []string) []fuzzSeed {
	const ct = "application/json"
	valid := `{"repository_url": "https://github.com/acme/demo", "user_request": "Fix the login bug"}`
	full := `{"agent_work_order_id": "wo-0000abcd", "repository_url": "https://github.com/acme/demo.git", "sandbox_type": "git_worktree",
		"user_request": "Fix issue #42", "selected_commands": ["create-branch", "planning", "execute", "commit", "create-pr"], "github_issue_number": "42"}`
	seeds := []fuzzSeed{
		{method: mGet, route: rRoot}, {method: mGet, route: rHealth}, {method: mGet, route: rOpenAPI},
		{method: mGet, route: rMetrics}, {method: mGet, route: rDocs}, {method: mHead, route: rHealth},
		{method: mOptions, route: rListSlash, origin: "https://evil.example"},
		{method: mGet, route: rList, origin: "http://localhost:3000"},

		// Creates: valid, then every field's bad forms.
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(valid)},
		{method: mPost, route: rList, contentType: ct, body: []byte(full)},
		{method: mPost, route: rListSlash, contentType: ct, idempotencyKey: "key-1", body: []byte(valid)},
		{method: mPost, route: rListSlash, contentType: "application/json; charset=utf-8", authorization: "Bearer t0ken", body: []byte(valid)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/demo", "user_request": "Fix\u0000it"}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte("{\"repository_url\": \"https://github.com/acme/demo\", \"user_request\": \"\x1b[2J\xc2\x85\x7f\"}")},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte("{\"repository_url\": \"https://github.com/acme/demo\", \"user_request\": \"\xff\xfe\"}")},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/demo", "user_request": "` + strings.Repeat("a", 70000) + `"}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "https://user:ghp_secret@github.com/acme/demo", "user_request": "x"}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "https://169.254.169.254/latest/meta-data", "user_request": "x"}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "ext::sh -c touch% /tmp/pwned", "user_request": "x"}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/demo", "user_request": "x", "selected_commands": ["planning", "planning", "rm -rf"]}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/demo", "user_request": "x", "github_issue_number": 1e400}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": ["a"], "user_request": {"b": 1}, "sandbox_type": 7, "agent_work_order_id": null}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/demo", "user_request": "x", "agent_work_order_id": "` + ids[0] + `"}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/demo", "user_request": "x", "unknown": true} {}`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`)},
		{method: mPost, route: rListSlash, contentType: ct, body: []byte("\xef\xbb\xbf" + valid)},
		{method: mPost, route: rListSlash, contentType: "text/plain", body: []byte(valid)},
		{method: mPost, route: rListSlash, body: []byte(valid)},
		{method: mPost, route: rListSlash, contentType: ct},
		{method: mPost, route: rListSlash, contentType: ct, idempotencyKey: "key\x00\x1b", body: []byte(valid)},
		{method: mPost, route: rListSlash, contentType: "application/json\x00", idempotencyKey: strings.Repeat("k", 300), body: []byte(valid)},
		{method: mPut, route: rListSlash, contentType: ct, body: []byte(valid)},

		// Lists: paging and filters.
		{method: mGet, route: rListSlash, query: "limit=2&offset=1&status=pending"},
		{method: mGet, route: rListSlash, query: "repository_url=https://github.com/acme/demo"},
		{method: mGet, route: rListSlash, query: "repository_url=%00"},
		{method: mGet, route: rListSlash, query: "repository_url=%ff&status=%00"},
		{method: mGet, route: rListSlash, query: "limit=99999999999999999999&offset=-1"},
		{method: mGet, route: rListSlash, query: "limit=1000&limit=0&offset=1073741824"},
		{method: mGet, route: rListSlash, query: "status=pending;status=running&%zz"},

		// Bad ids.
		{method: mGet, route: rGet, id: "\x00"},
		{method: mGet, route: rSteps, id: "%00"},
		{method: mGet, route: rSteps, id: "\xff"},
		{method: mPost, route: rCancel, id: "wo-../../x", contentType: ct},
		{method: mGet, route: rStream, id: "wo-0000000g"},
		{method: mGet, route: rRaw, tail: "/api/agent-work-orders/%2e%2e/health"},
		{method: mGet, route: rRaw, tail: "//api//agent-work-orders///"},
		{method: mDelete, route: rGet, id: ids[0]},
		{method: mGet, route: rEvents},
		{method: mGet, route: rEvents, query: "id=" + ids[0] + "&type=step.completed,workorder.requested.v1&from=now"},
		{method: mGet, route: rEvents, query: "type=nope", lastEventID: "3"},
		{method: mGet, route: rRepos},
		{method: mPost, route: rRepos, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/demo", "verify": true}`)},
		{method: mPost, route: rRepos, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/private", "verify": true}`)},
		{method: mPost, route: rRepos, contentType: ct, body: []byte(`{"repository_url": "git@github.com:acme/other.git", "verify": false}`)},
		{method: mPatch, route: rRepo, id: "00000000-0000-5000-8000-000000000000", contentType: ct,
			body: []byte(`{"default_sandbox_type": "git_branch", "default_commands": ["create-branch", "commit"]}`)},
		{method: mDelete, route: rRepo, id: "not-a-uuid"},
		{method: mPost, route: rRepoVerify, id: "00000000-0000-5000-8000-000000000000"},
		{method: mPost, route: rGitHubVerify, contentType: ct, body: []byte(`{"repository_url": "https://github.com/acme/demo"}`)},
		{method: mPost, route: rGitHubVerify, contentType: ct, body: []byte(`{"repository_url": 7}`)},
	}
	for _, id := range ids {
		seeds = append(seeds,
			fuzzSeed{method: mGet, route: rGet, id: id},
			fuzzSeed{method: mHead, route: rGet, id: id},
			fuzzSeed{method: mGet, route: rSteps, id: id},
			fuzzSeed{method: mGet, route: rGitProgress, id: id},
			fuzzSeed{method: mGet, route: rGet, id: id, tail: "/"},
			fuzzSeed{method: mPost, route: rCancel, id: id},
			fuzzSeed{method: mPost, route: rCancel, id: id, contentType: ct, body: []byte(`{"reason": "wrong repository"}`)},
			fuzzSeed{method: mPost, route: rCancel, id: id, contentType: ct, body: []byte(`{"reason": "\u0000\u001b[31m"}`)},
			fuzzSeed{method: mPost, route: rRetry, id: id},
			fuzzSeed{method: mPost, route: rRetry, id: id, contentType: ct, body: []byte(`{"reason": "flaky network"}`)},
			fuzzSeed{method: mPost, route: rRetry, id: id, contentType: ct, body: []byte(`{"reason": 5, "extra": []}`)},
			fuzzSeed{method: mGet, route: rLogs, id: id},
			fuzzSeed{method: mGet, route: rLogs, id: id, query: "level=error&step=planning&since=2026-01-02T15:04:05Z&limit=1&offset=1"},
			fuzzSeed{method: mGet, route: rLogs, id: id, query: "since=garbage&level=%00&step=%ff"},
			fuzzSeed{method: mGet, route: rLogs, id: id, query: "since=2026-01-02T15:04:05.123456789&limit=1001"},
			fuzzSeed{method: mGet, route: rStream, id: id},
			fuzzSeed{method: mHead, route: rStream, id: id},
			fuzzSeed{method: mGet, route: rStream, id: id, lastEventID: "1"},
			fuzzSeed{method: mGet, route: rStream, id: id, lastEventID: "18446744073709551615"},
			fuzzSeed{method: mGet, route: rStream, id: id, lastEventID: "9223372036854775807", query: "level=info"},
			fuzzSeed{method: mGet, route: rStream, id: id, query: "last_event_id=-5"},
			fuzzSeed{method: mGet, route: rStream, id: id, lastEventID: "\x00\r\n"},
			fuzzSeed{method: mPost, route: rPrompt, id: id, contentType: ct, body: []byte(`{"prompt_text": "also handle the empty case"}`)},
			fuzzSeed{method: mPost, route: rPrompt, id: id, contentType: ct, body: []byte(`{"prompt_text": "\u0000", "x": 1}`)},
		)
	}
	return seeds
}

// The seeds name routes by index: a route added to fuzzRoutes without its
// constant would send every later seed to the wrong route.
func TestFuzzSeedIndicesMatchTheRoutes(t *testing.T) {
	for idx, want := range map[uint8]string{
		rStream: "/api/agent-work-orders/{id}/logs/stream", rEvents: "/api/agent-work-orders/events",
		rPrompt: "/api/agent-work-orders/{id}/prompt", rRepoVerify: "/api/agent-work-orders/repositories/{id}/verify",
		rGitHubVerify: "/api/agent-work-orders/github/verify-repository", rRaw: "",
	} {
		if got := fuzzRoutes[idx]; got != want {
			t.Errorf("fuzzRoutes[%d] = %q, want %q", idx, got, want)
		}
	}
	if int(rRaw) != len(fuzzRoutes)-1 {
		t.Errorf("rRaw = %d, want the last route, %d", rRaw, len(fuzzRoutes)-1)
	}
}
