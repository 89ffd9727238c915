package health

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fixed(ok bool, fields map[string]any) func(context.Context) Result {
	return func(context.Context) Result { return Result{OK: ok, Fields: fields} }
}

func TestMonitor_Status(t *testing.T) {
	tests := []struct {
		name   string
		probes []Probe
		want   string
	}{
		{"AllWork_Healthy", []Probe{
			{Name: "a", Critical: true, Check: fixed(true, nil)},
			{Name: "b", Check: fixed(true, nil)},
		}, StatusHealthy},
		{"CriticalDown_Degraded", []Probe{
			{Name: "a", Critical: true, Check: fixed(false, nil)},
			{Name: "b", Check: fixed(true, nil)},
		}, StatusDegraded},
		{"OptionalDown_StillHealthy", []Probe{
			{Name: "a", Critical: true, Check: fixed(true, nil)},
			{Name: "b", Check: fixed(false, nil)},
		}, StatusHealthy},
		{"NoProbes_Healthy", nil, StatusHealthy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewMonitor(tc.probes, Options{}).Check(context.Background())
			if r.Status != tc.want {
				t.Errorf("status = %s, want %s", r.Status, tc.want)
			}
			if len(r.Dependencies) != len(tc.probes) {
				t.Errorf("%d dependencies, want %d", len(r.Dependencies), len(tc.probes))
			}
		})
	}
}

func TestMonitor_RendersFieldsUnderTheOKKey(t *testing.T) {
	m := NewMonitor([]Probe{
		{Name: "claude_cli", Check: fixed(true, map[string]any{"version": "2.1.328 (Claude Code)"})},
		{Name: "nats", OKKey: "connected", Check: fixed(false, map[string]any{"error": "down"})},
	}, Options{})
	got := m.Check(context.Background()).Dependencies
	want := map[string]Dependency{
		"claude_cli": {"available": true, "version": "2.1.328 (Claude Code)"},
		"nats":       {"connected": false, "error": "down"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dependencies = %v, want %v", got, want)
	}
}

// Each probe waits until every other has started: run one after the other
// they would all time out.
func TestMonitor_ProbesRunConcurrently(t *testing.T) {
	const n = 4
	var started sync.WaitGroup
	started.Add(n)
	var probes []Probe
	for i := range n {
		probes = append(probes, Probe{Name: string(rune('a' + i)), Critical: true, Check: func(ctx context.Context) Result {
			started.Done()
			all := make(chan struct{})
			go func() { started.Wait(); close(all) }()
			select {
			case <-all:
				return Result{OK: true}
			case <-ctx.Done():
				return Result{}
			}
		}})
	}
	r := NewMonitor(probes, Options{Timeout: 2 * time.Second}).Check(context.Background())
	if r.Status != StatusHealthy {
		t.Fatalf("status = %s (%v): probes did not run concurrently", r.Status, r.Dependencies)
	}
}

func TestMonitor_HungProbeTimesOut(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	m := NewMonitor([]Probe{
		{Name: "hung", Critical: true, Check: func(context.Context) Result { <-block; return Result{OK: true} }},
		{Name: "fine", Check: fixed(true, nil)},
	}, Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	r := m.Check(context.Background())
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Check took %s with a 50ms probe timeout", elapsed)
	}
	if r.Status != StatusDegraded || r.Dependencies["hung"]["available"] != false || r.Dependencies["hung"]["error"] == nil {
		t.Errorf("report = %+v, want degraded with the hung probe unavailable and explained", r)
	}
	if r.Dependencies["fine"]["available"] != true {
		t.Errorf("the other probe's result was lost: %v", r.Dependencies["fine"])
	}
}

func TestMonitor_PanickingProbeIsReportedNotFatal(t *testing.T) {
	m := NewMonitor([]Probe{{Name: "p", Critical: true, Check: func(context.Context) Result { panic("boom") }}}, Options{})
	r := m.Check(context.Background())
	if r.Status != StatusDegraded || r.Dependencies["p"]["error"] == nil {
		t.Errorf("report = %+v, want degraded with an error", r)
	}
}

func TestMonitor_CachesForTTL(t *testing.T) {
	var calls atomic.Int32
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMonitor([]Probe{{Name: "x", Check: func(context.Context) Result {
		calls.Add(1)
		return Result{OK: true}
	}}}, Options{TTL: 5 * time.Second, Now: func() time.Time { return now }})

	m.Check(context.Background())
	now = now.Add(4 * time.Second)
	r := m.Check(context.Background())
	if calls.Load() != 1 {
		t.Fatalf("probe ran %d times within the TTL, want 1", calls.Load())
	}
	// The cached report is the caller's to change.
	r.Dependencies["x"]["available"] = "mutated"
	if got := m.Check(context.Background()).Dependencies["x"]["available"]; got != true {
		t.Errorf("cached report changed through a returned copy: %v", got)
	}
	now = now.Add(2 * time.Second)
	m.Check(context.Background())
	if calls.Load() != 2 {
		t.Errorf("probe ran %d times after the TTL, want 2", calls.Load())
	}
}

// A cancelled caller must not poison the cache with timeouts for everyone.
func TestMonitor_CallerCancellationDoesNotCutProbes(t *testing.T) {
	m := NewMonitor([]Probe{{Name: "x", Check: func(ctx context.Context) Result {
		select {
		case <-time.After(20 * time.Millisecond):
			return Result{OK: true}
		case <-ctx.Done():
			return Result{}
		}
	}}}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := m.Check(ctx); r.Dependencies["x"]["available"] != true {
		t.Errorf("probe saw the caller's cancellation: %v", r.Dependencies["x"])
	}
}
