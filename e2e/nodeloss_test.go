//go:build cluster

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/fakegh"
)

// The test behind `make cluster-test`: the services run as separate
// processes on a three-node JetStream cluster with every stream replicated
// three times, work orders are created at a steady rate through the
// gateway, and meanwhile the node of the JetStream meta leader is killed
// (SIGKILL) and started again, then the node of the WORKORDERS_EVENTS
// stream's leader. Every work order must
// complete once, nothing may be dead-lettered or opened twice, the three
// copies of the event stream must agree at the end, and a create may only
// ever be answered 201 or 503 with Retry-After. Its figures are printed on
// one line starting "cluster-test:". AWO_CLUSTER_WORK_ORDERS sets the
// least number of work orders (default 16).
func TestClusterNodeLoss_LeadersKilledAndRestarted_EveryWorkOrderCompletesOnce(t *testing.T) {
	minOrders := envInt(t, "AWO_CLUSTER_WORK_ORDERS", 16)
	const createEvery = 2 * time.Second

	nodes := startNATSCluster(t, 3)
	nc, err := nats.Connect(nodes.URLs(), nats.Name("awo-e2e-observer"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	w := newWorldWithGH(t, fakegh.Options{}, concurrentRules(time.Second)...)
	c := newClusterOn(t, w, clusterSize{Orchestrators: 2, Executors: 2, GitHubs: 1}, nodes.URLs(), js,
		"AWO_STREAM_REPLICAS=3", "AWO_CREATE_RATE=off",
		// Every node reserves the streams' limits on the same disk.
		"AWO_EVENTS_MAX_BYTES=256MiB", "AWO_LOGS_MAX_BYTES=256MiB", "AWO_COMMANDS_MAX_BYTES=64MiB", "AWO_DLQ_MAX_BYTES=64MiB")
	// The gateway makes the streams and buckets, and the others start once
	// every copy of them is current: services that all start at once on
	// a cluster can lose a start-up lookup of a stream another one is
	// still making (see docs/testing.md), and this test is of a running
	// system, not of a start-up.
	startService(t, c, "gateway")
	nodes.waitCurrent(2 * time.Minute)
	for _, name := range c.order[1:] {
		startService(t, c, name)
	}
	c.waitGatewayUp(time.Minute)
	checkReplicated(t, js, 3)
	start := time.Now()

	ctx, stopCreating := context.WithCancel(context.Background())
	defer stopCreating()
	cl := &createLoop{c: c, every: createEvery, ctx: ctx}
	loopDone := make(chan struct{})
	phasesDone := make(chan struct{})
	go func() { defer close(loopDone); cl.run(minOrders, phasesDone) }()

	// Some work orders in flight before the first kill.
	waitUntil(t, 2*time.Minute, "three creates answered before the first kill", func() bool { return cl.okCount() >= 3 })
	// Each kill takes one election of its own: the meta leader's node does
	// not lead WORKORDERS_EVENTS when it is killed, nor the stream's leader
	// the meta group when it is.
	meta := nodes.waitMetaLeader(nil, time.Minute)
	nodes.moveStreamLeaderOff(nc, bus.StreamEvents, meta)
	metaKill := killAndRestart(t, nodes, cl, "meta leader", meta, func() *natsNode { return nodes.waitMetaLeader(meta, time.Minute) })
	nodes.waitCurrent(2 * time.Minute)

	nodes.moveStreamLeaderOff(nc, bus.StreamEvents, nodes.waitMetaLeader(nil, time.Minute))
	leader := nodes.waitStreamLeader(bus.StreamEvents, nil, time.Minute)
	streamKill := killAndRestart(t, nodes, cl, bus.StreamEvents+" leader", leader, func() *natsNode {
		return nodes.waitStreamLeader(bus.StreamEvents, leader, time.Minute)
	})
	nodes.waitCurrent(2 * time.Minute)
	close(phasesDone)
	<-loopDone

	ids := cl.workOrders(t)
	last := c.waitAllFinished(ids, 6*time.Minute)
	took := time.Since(start)
	c.checkInvariants(ids, last, faultSteps)

	nodesSeq := checkCopiesAgree(t, nodes, js, bus.StreamEvents, 2*time.Minute)
	log := readEventLog(t, js)
	completedOnce := log.checkCompletedOnce(t, ids)
	cl.check(t)

	f := c.figures(ids, last, took)
	dup := 0
	for _, n := range prsPerHead(t, w) {
		dup += n - 1
	}
	ok, n503, other := cl.tally()
	summary := fmt.Sprintf("cluster-test: %d/%d work orders completed once, %d dead-lettered, %d duplicate PRs, events agree on %d nodes (seq %d), "+
		"creates: %d ok, %d×503 (retried), %d other answers; stall: meta-leader kill %s (election %s, next create %s), stream-leader kill %s (election %s, next create %s); calm gap %s; took %s",
		completedOnce, len(ids), c.streamMsgs(bus.StreamDLQ), dup, len(nodes.nodes), nodesSeq,
		ok, n503, other,
		secs(log.stallAround(metaKill.at)), secs(metaKill.election), secs(cl.nextOKAfter(metaKill.at)),
		secs(log.stallAround(streamKill.at)), secs(streamKill.election), secs(cl.nextOKAfter(streamKill.at)),
		secs(log.longestGap(start, metaKill.at)), took.Round(time.Second))
	t.Logf("run: %s", f)
	// On stdout, so `make cluster-test` can show it last.
	fmt.Println(summary)
	if p := os.Getenv("AWO_CLUSTER_REPORT"); p != "" {
		_ = os.WriteFile(p, []byte(summary+"\n"), 0o644)
	}
}

// prsPerHead counts the pull requests fake gh opened for each branch.
func prsPerHead(t *testing.T, w *world) map[string]int {
	n := map[string]int{}
	for _, pr := range w.GH.PRs(t) {
		n[pr.Head]++
	}
	return n
}

// startService starts one service and waits until it is through its
// start: streams ensured, consuming.
func startService(t *testing.T, c *cluster, name string) {
	t.Helper()
	if err := c.p(name).start(); err != nil {
		t.Fatal(err)
	}
	service, _, _ := strings.Cut(name, "-")
	ready := readyLine[service]
	waitUntil(t, 2*time.Minute, name+" to say "+ready, func() bool { return c.p(name).logCount(ready) > 0 })
}

// readyLine is what each service logs once it has started.
var readyLine = map[string]string{
	"gateway":      "projector caught up with the event stream",
	"orchestrator": "orchestrator consuming events",
	"executor":     "executor consuming step commands",
	"github":       "github service consuming step commands",
}

func secs(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// kill is one stopped node: when, and how long until another node led.
type kill struct {
	at       time.Time
	election time.Duration
}

// killAndRestart SIGKILLs node (a leader) and at once asks for a work
// order, waits for newLeader to find another leader, lets the system run on
// two nodes until two creates asked for after the kill have been answered,
// then starts the node again from its store.
func killAndRestart(t *testing.T, nodes *natsCluster, cl *createLoop, what string, node *natsNode, newLeader func() *natsNode) kill {
	t.Helper()
	led := nodes.ledBy(node)
	k := kill{at: time.Now()}
	node.kill()
	cl.createNow()
	next := newLeader()
	k.election = time.Since(k.at)
	t.Logf("killed %s %s at %s (it led %s); %s leads after %s", what, node.name, k.at.Format("15:04:05.000"), strings.Join(led, ", "),
		next.name, k.election.Round(time.Millisecond))
	waitUntil(t, 2*time.Minute, "two creates answered with "+node.name+" down", func() bool { return cl.okSentSince(k.at) >= 2 })
	if err := node.start(natsServerBinary(t)); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted %s after %s", node.name, time.Since(k.at).Round(time.Millisecond))
	return k
}

// checkReplicated fails unless every stream awo made has replicas copies
// placed on distinct nodes.
func checkReplicated(t *testing.T, js jetstream.JetStream, replicas int) {
	t.Helper()
	for _, name := range []string{bus.StreamEvents, bus.StreamCommands, bus.StreamLogs, bus.StreamDLQ, bus.StreamCheckpoints} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := js.Stream(ctx, name)
		cancel()
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info := s.CachedInfo()
		if info.Config.Replicas != replicas || info.Cluster == nil || len(info.Cluster.Replicas)+1 != replicas {
			t.Fatalf("stream %s has %d replicas (cluster %+v), want %d: AWO_STREAM_REPLICAS not applied", name, info.Config.Replicas, info.Cluster, replicas)
		}
	}
}

// checkCopiesAgree waits until every node's own copy of stream holds the
// same messages up to the same last sequence as the leader reports, and
// returns that sequence.
func checkCopiesAgree(t *testing.T, nodes *natsCluster, js jetstream.JetStream, stream string, within time.Duration) uint64 {
	t.Helper()
	var copies []string
	var leader *jetstream.StreamInfo
	agree := func() bool {
		copies = copies[:0]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		leader = s.CachedInfo()
		same := true
		for _, n := range nodes.nodes {
			st, ok := n.stream(stream)
			if !ok {
				copies = append(copies, n.name+": no answer")
				same = false
				continue
			}
			copies = append(copies, fmt.Sprintf("%s: %d messages, seq %d..%d", n.name, st.State.Msgs, st.State.FirstSeq, st.State.LastSeq))
			same = same && st.State.Msgs == leader.State.Msgs && st.State.LastSeq == leader.State.LastSeq &&
				st.Config != nil && st.Config.Replicas == len(nodes.nodes)
		}
		return same
	}
	deadline := time.Now().Add(within)
	for !agree() {
		if time.Now().After(deadline) {
			t.Errorf("the copies of %s do not agree after %s: %v; the leader says %d messages, last seq %d", stream, within, copies, leader.State.Msgs, leader.State.LastSeq)
			return 0
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("copies of %s: %v", stream, copies)
	return leader.State.LastSeq
}

// eventLog is the whole event stream as stored: when each message was
// stored and what it was.
type eventLog struct {
	times     []time.Time
	completed map[string]int // workorder.completed per work order
}

func readEventLog(t *testing.T, js jetstream.JetStream) *eventLog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{bus.AllEvents}})
	if err != nil {
		t.Fatal(err)
	}
	pending := cons.CachedInfo().NumPending
	l := &eventLog{completed: map[string]int{}}
	completedType := events.ShortName(events.TypeCompleted)
	for uint64(len(l.times)) < pending {
		batch, err := cons.Fetch(256, jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("reading %s: %v", bus.StreamEvents, err)
		}
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			l.times = append(l.times, meta.Timestamp)
			rest := strings.TrimPrefix(m.Subject(), "workorders.events.")
			if wo, typ, _ := strings.Cut(rest, "."); typ == completedType {
				l.completed[wo]++
			}
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("reading %s: %v", bus.StreamEvents, err)
		}
	}
	return l
}

// checkCompletedOnce counts the work orders with exactly one
// workorder.completed event and reports every other.
func (l *eventLog) checkCompletedOnce(t *testing.T, ids []string) int {
	t.Helper()
	once := 0
	for _, id := range ids {
		switch n := l.completed[id]; n {
		case 1:
			once++
		default:
			t.Errorf("work order %s has %d workorder.completed events", id, n)
		}
	}
	if len(l.completed) != len(ids) {
		t.Errorf("%d work orders completed in the stream, %d were created", len(l.completed), len(ids))
	}
	return once
}

// stallAround is the gap between the last event stored before at and the
// first stored after it: how long nothing was recorded across a kill. -1
// when nothing was stored after.
func (l *eventLog) stallAround(at time.Time) time.Duration {
	i := sort.Search(len(l.times), func(i int) bool { return !l.times[i].Before(at) })
	if i == len(l.times) {
		return -1
	}
	if i == 0 {
		return l.times[0].Sub(at)
	}
	return l.times[i].Sub(l.times[i-1])
}

// longestGap is the longest time between consecutive events stored in
// [from, to): the usual quiet of the run, to compare a stall with.
func (l *eventLog) longestGap(from, to time.Time) time.Duration {
	var longest time.Duration
	var prev time.Time
	for _, ts := range l.times {
		if ts.Before(from) || !ts.Before(to) {
			continue
		}
		if !prev.IsZero() {
			longest = max(longest, ts.Sub(prev))
		}
		prev = ts
	}
	return longest
}

// createLoop creates a work order every `every`, each with an
// Idempotency-Key of its own that its retries repeat, and records every
// answer.
type createLoop struct {
	c     *cluster
	every time.Duration

	mu      sync.Mutex
	creates []*create
	ctx     context.Context // ends the creates
	wg      sync.WaitGroup
}

type create struct {
	key     string
	id      string // from the first 201
	ids     map[string]bool
	answers []answer
	done    bool
}

type answer struct {
	sent, got  time.Time
	status     int // 0: no answer (err)
	retryAfter string
	err        string
}

// run creates until phasesDone is closed and at least least work orders
// were asked for, then waits for every create to be answered 201.
func (l *createLoop) run(least int, phasesDone <-chan struct{}) {
	tick := time.NewTicker(l.every)
	defer tick.Stop()
	for {
		n := l.createNow()
		select {
		case <-phasesDone:
			if n >= least {
				l.wg.Wait()
				return
			}
		default:
		}
		select {
		case <-l.ctx.Done():
			l.wg.Wait()
			return
		case <-tick.C:
		}
	}
}

// createNow starts one more create and returns how many were started.
func (l *createLoop) createNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := len(l.creates)
	cr := &create{key: fmt.Sprintf("cluster-test-%03d", i), ids: map[string]bool{}}
	l.creates = append(l.creates, cr)
	ctx := l.ctx
	l.wg.Go(func() { l.createOnce(ctx, cr, i) })
	return i + 1
}

// createOnce POSTs until the answer is 201, waiting as a 503's
// Retry-After says (or a second after anything else), for up to three
// minutes.
func (l *createLoop) createOnce(ctx context.Context, cr *create, i int) {
	body, _ := json.Marshal(map[string]any{"repository_url": repoURL,
		"user_request": fmt.Sprintf("Add a greeting file (%d)", i), "selected_commands": faultSteps})
	client := &http.Client{Timeout: 30 * time.Second}
	deadline := time.Now().Add(3 * time.Minute)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.c.base+"/api/agent-work-orders/", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", cr.key)
		l.c.authorize(req)
		a := answer{sent: time.Now()}
		resp, err := client.Do(req)
		a.got = time.Now()
		var id string
		if err != nil {
			a.err = err.Error()
		} else {
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
			if a.status != http.StatusCreated {
				a.err = strings.TrimSpace(string(out))
			}
			var r struct {
				ID string `json:"agent_work_order_id"`
			}
			if a.status == http.StatusCreated && json.Unmarshal(out, &r) == nil {
				id = r.ID
			}
		}
		l.mu.Lock()
		cr.answers = append(cr.answers, a)
		if id != "" {
			cr.ids[id] = true
			if cr.id == "" {
				cr.id = id
			}
			cr.done = true
		}
		l.mu.Unlock()
		if id != "" {
			return
		}
		wait := time.Second
		if s, err := strconv.Atoi(a.retryAfter); err == nil && a.status == http.StatusServiceUnavailable {
			wait = time.Duration(s) * time.Second
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// okSentSince counts the creates answered 201 to a request sent at or
// after at.
func (l *createLoop) okSentSince(at time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, cr := range l.creates {
		for _, a := range cr.answers {
			if a.status == http.StatusCreated && !a.sent.Before(at) {
				n++
			}
		}
	}
	return n
}

func (l *createLoop) okCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, cr := range l.creates {
		if cr.done {
			n++
		}
	}
	return n
}

// nextOKAfter is how long after at the first create sent after at was
// answered 201; -1 when none was.
func (l *createLoop) nextOKAfter(at time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	best := time.Duration(-1)
	for _, cr := range l.creates {
		for _, a := range cr.answers {
			if a.status == http.StatusCreated && !a.sent.Before(at) {
				if d := a.got.Sub(at); best < 0 || d < best {
					best = d
				}
			}
		}
	}
	return best
}

// tally counts the answers: 201s, 503s with Retry-After, and everything
// else (other 5xx, 503 without Retry-After, 4xx, no answer).
func (l *createLoop) tally() (ok, retried503, other int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cr := range l.creates {
		for _, a := range cr.answers {
			switch {
			case a.status == http.StatusCreated:
				ok++
			case a.status == http.StatusServiceUnavailable && a.retryAfter != "":
				retried503++
			default:
				other++
			}
		}
	}
	return ok, retried503, other
}

// check reports every answer that was neither 201 nor 503 with
// Retry-After, and every key that did not end as exactly one work order.
func (l *createLoop) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, cr := range l.creates {
		for _, a := range cr.answers {
			if a.status == http.StatusCreated || (a.status == http.StatusServiceUnavailable && a.retryAfter != "") {
				continue
			}
			t.Errorf("create %s sent at %s: answered %d (Retry-After %q) after %s: %s", cr.key, a.sent.Format("15:04:05.000"),
				a.status, a.retryAfter, a.got.Sub(a.sent).Round(time.Millisecond), a.err)
		}
		if !cr.done || len(cr.ids) != 1 {
			t.Errorf("create %s: work orders %v after %d answers", cr.key, cr.ids, len(cr.answers))
		}
	}
}

// workOrders are the ids the creates were answered with, one per key.
func (l *createLoop) workOrders(t *testing.T) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	seen := map[string]string{}
	for _, cr := range l.creates {
		if cr.id == "" {
			continue
		}
		if other, dup := seen[cr.id]; dup {
			t.Errorf("keys %s and %s were answered with the same work order %s", other, cr.key, cr.id)
			continue
		}
		seen[cr.id] = cr.key
		ids = append(ids, cr.id)
	}
	return ids
}
