package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/metrics"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/worker"
	"github.com/agentworkorders/awo/pkg/workorder"
)

var discard = slog.New(slog.DiscardHandler)

func TestObserveSteps_RecordsDurationCostAndTokens(t *testing.T) {
	m := metrics.New()
	results := map[workorder.Step]events.StepResult{
		workorder.StepPlanning: {Success: true, DurationSeconds: 12, CostUSD: 0.25,
			Usage: &events.Usage{InputTokens: 10, CacheReadInputTokens: 90, CacheCreationInputTokens: 5, OutputTokens: 40}},
		workorder.StepExecute:  {Success: false, DurationSeconds: 3, CostUSD: 0.5, Usage: &events.Usage{InputTokens: 7, OutputTokens: 1}},
		workorder.StepCreatePR: {Success: true, DurationSeconds: 0.4},
	}
	h := m.ObserveSteps(func(_ context.Context, cmd events.RunStep, _ *slog.Logger) (events.StepResult, error) {
		if cmd.Step == workorder.StepCommit {
			return events.StepResult{}, errors.New("shutting down")
		}
		return results[cmd.Step], nil
	})
	for _, s := range []workorder.Step{workorder.StepPlanning, workorder.StepExecute, workorder.StepCreatePR, workorder.StepCommit} {
		_, _ = h(context.Background(), events.RunStep{WorkOrderID: "wo-00000001", Step: s, Attempt: 1}, discard)
	}

	reg := m.Registry()
	if n := testutil.CollectAndCount(reg, "awo_step_duration_seconds"); n != 3 {
		t.Errorf("awo_step_duration_seconds has %d series, want 3 (an interrupted step records nothing)", n)
	}
	want := `
# HELP awo_agent_cost_usd_total Cost the Claude Code CLI reported for agent steps, in US dollars.
# TYPE awo_agent_cost_usd_total counter
awo_agent_cost_usd_total{step="execute"} 0.5
awo_agent_cost_usd_total{step="planning"} 0.25
# HELP awo_agent_tokens_total Tokens the Claude Code CLI reported for agent steps, by kind (input includes cache reads and writes).
# TYPE awo_agent_tokens_total counter
awo_agent_tokens_total{kind="input",step="execute"} 7
awo_agent_tokens_total{kind="input",step="planning"} 105
awo_agent_tokens_total{kind="output",step="execute"} 1
awo_agent_tokens_total{kind="output",step="planning"} 40
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "awo_agent_cost_usd_total", "awo_agent_tokens_total"); err != nil {
		t.Error(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP awo_step_duration_seconds How long workflow steps took, by step and outcome (success or failure).
# TYPE awo_step_duration_seconds histogram
`+histogram("create-pr", "success", 0.4)+histogram("execute", "failure", 3)+histogram("planning", "success", 12)),
		"awo_step_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// histogram renders one observation v in awo_step_duration_seconds's buckets.
func histogram(step, outcome string, v float64) string {
	bounds := []string{"0.1", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300", "600", "1200", "3600"}
	values := []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600}
	var b strings.Builder
	labels := `outcome="` + outcome + `",step="` + step + `"`
	for i, le := range bounds {
		n := "0"
		if v <= values[i] {
			n = "1"
		}
		b.WriteString(`awo_step_duration_seconds_bucket{` + labels + `,le="` + le + `"} ` + n + "\n")
	}
	b.WriteString(`awo_step_duration_seconds_bucket{` + labels + `,le="+Inf"} 1` + "\n")
	b.WriteString(`awo_step_duration_seconds_sum{` + labels + `} ` + strconv.FormatFloat(v, 'g', -1, 64) + "\n")
	b.WriteString(`awo_step_duration_seconds_count{` + labels + `} 1` + "\n")
	return b.String()
}

func TestObserveDelivery_CountsRedeliveriesAndDeadLetters(t *testing.T) {
	m := metrics.New()
	observe := m.ObserveDelivery()
	for _, o := range []bus.Observation{
		{Consumer: "executor", Delivered: 1, Outcome: bus.OutcomeRetried},
		{Consumer: "executor", Delivered: 2, Outcome: bus.OutcomeRetried},
		{Consumer: "executor", Delivered: 3, Outcome: bus.OutcomeDeadLettered},
		{Consumer: "orchestrator", Delivered: 1, Outcome: bus.OutcomeAcked},
	} {
		observe(o)
	}
	reg := m.Registry()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP awo_messages_redelivered_total Deliveries that JetStream had delivered before (a retry or an expired ack wait).
# TYPE awo_messages_redelivered_total counter
awo_messages_redelivered_total{consumer="executor"} 2
# HELP awo_messages_dead_lettered_total Messages copied to the dead-letter stream and terminated.
# TYPE awo_messages_dead_lettered_total counter
awo_messages_dead_lettered_total{consumer="executor"} 1
`), "awo_messages_redelivered_total", "awo_messages_dead_lettered_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "awo_messages_handled_total"); n != 3 {
		t.Errorf("awo_messages_handled_total has %d series, want 3 (executor retried, executor dead_lettered, orchestrator acked)", n)
	}
}

// countStore answers Count from a map, or fails.
type countStore struct {
	n   map[workorder.Status]int
	err error
}

func (s countStore) Count(_ context.Context, f readmodel.Filter) (int, error) {
	return s.n[f.Status], s.err
}

func TestWatchWorkOrders_CountsEveryStatusAtScrape(t *testing.T) {
	m := metrics.New()
	store := countStore{n: map[workorder.Status]int{workorder.StatusRunning: 2, workorder.StatusCompleted: 5}}
	if err := m.WatchWorkOrders(store); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchWorkOrders(store); err == nil {
		t.Error("watching a second store: want an error")
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP awo_work_orders Work orders in the read store, by status, counted at scrape time.
# TYPE awo_work_orders gauge
awo_work_orders{status="cancelled"} 0
awo_work_orders{status="completed"} 5
awo_work_orders{status="failed"} 0
awo_work_orders{status="pending"} 0
awo_work_orders{status="running"} 2
`), "awo_work_orders"); err != nil {
		t.Error(err)
	}
}

func TestWatchWorkOrders_StoreErrorFailsOnlyThatSeries(t *testing.T) {
	m := metrics.New()
	if err := m.WatchWorkOrders(countStore{err: errors.New("db down")}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "go_goroutines") || strings.Contains(body, "awo_work_orders{") {
		t.Errorf("status %d; a failing store should drop only awo_work_orders:\n%.400s", rec.Code, body)
	}
}

func TestWatchConsumer_ReportsPendingAndAckPending(t *testing.T) {
	env := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := env.JS.CreateOrUpdateConsumer(ctx, bus.StreamCommands, jetstream.ConsumerConfig{
		Durable: "executor", FilterSubject: bus.CommandFilter("executor"),
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := env.Bus("test")
	for i, s := range []workorder.Step{workorder.StepPlanning, workorder.StepExecute, workorder.StepCommit} {
		if err := worker.PublishCommand(ctx, b, events.RunStep{WorkOrderID: workorder.ID("wo-0000000" + string(rune('1'+i))), Step: s, Attempt: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// One fetched and not acked: pending 2, ack-pending 1.
	batch, err := cons.FetchNoWait(1)
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() {
	}

	m := metrics.New()
	m.WatchConsumer(env.JS, bus.StreamCommands, "executor")
	m.WatchConsumer(env.JS, bus.StreamCommands, "missing") // a broken one must not hide the others
	got := map[string]float64{}
	families, _ := m.Registry().Gather() // the missing consumer is an error; the rest is still gathered
	for _, f := range families {
		for _, mm := range f.GetMetric() {
			if f.GetName() == "awo_consumer_pending_messages" || f.GetName() == "awo_consumer_ack_pending_messages" {
				got[f.GetName()+"/"+mm.GetLabel()[0].GetValue()] = mm.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{"awo_consumer_pending_messages/executor": 2, "awo_consumer_ack_pending_messages/executor": 1}
	if len(got) != len(want) || got["awo_consumer_pending_messages/executor"] != 2 || got["awo_consumer_ack_pending_messages/executor"] != 1 {
		t.Errorf("consumer gauges = %v, want %v", got, want)
	}
	// Its counters start at zero, so rate() sees 0 rather than no series.
	counters := map[string]bool{}
	for _, f := range families {
		for _, mm := range f.GetMetric() {
			if mm.GetCounter() != nil && mm.GetCounter().GetValue() == 0 && len(mm.GetLabel()) == 1 {
				counters[f.GetName()+"/"+mm.GetLabel()[0].GetValue()] = true
			}
		}
	}
	if !counters["awo_messages_redelivered_total/executor"] || !counters["awo_messages_dead_lettered_total/executor"] {
		t.Errorf("zero counters = %v, want the executor's redelivered and dead-lettered", counters)
	}
}

func TestServe_AnswersMetricsAndStopsWithContext(t *testing.T) {
	m := metrics.New()
	m.ObserveHTTP("/health", http.MethodGet, 200, 5*time.Millisecond)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- m.Serve(ctx, ln, discard) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `awo_http_request_duration_seconds_count{code="200",method="GET",route="/health"} 1`) {
		t.Errorf("GET /metrics = %d:\n%.600s", resp.StatusCode, body)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestNilMetrics_RecordsNothingAndServesEmpty(t *testing.T) {
	var m *metrics.Metrics
	h := func(context.Context, events.RunStep, *slog.Logger) (events.StepResult, error) {
		return events.StepResult{Success: true}, nil
	}
	if _, err := m.ObserveSteps(h)(context.Background(), events.RunStep{}, discard); err != nil {
		t.Fatal(err)
	}
	if m.ObserveDelivery() != nil {
		t.Error("a nil Metrics should give no delivery observer")
	}
	m.ObserveHTTP("/", "GET", 200, time.Millisecond)
	m.WatchConsumer(nil, "S", "c")
	if err := m.WatchWorkOrders(countStore{}); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("nil Metrics served %d %q", rec.Code, rec.Body.String())
	}
}

func TestServeBeside_ServesWhileRunRuns(t *testing.T) {
	m := metrics.New()
	// Find a free port, then let ServeBeside open it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	err = m.ServeBeside(context.Background(), addr, discard, func(ctx context.Context) error {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ServeBeside = %v", err)
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("metrics still served after run returned")
	}

	ran := false
	if err := m.ServeBeside(context.Background(), "", discard, func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("without an address: err %v, ran %v", err, ran)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = m.ServeBeside(context.Background(), busy.Addr().String(), discard, func(context.Context) error { t.Error("run started"); return nil })
	if err == nil || !strings.Contains(err.Error(), "AWO_METRICS_LISTEN") {
		t.Errorf("busy port: err = %v, want one naming AWO_METRICS_LISTEN", err)
	}
}
