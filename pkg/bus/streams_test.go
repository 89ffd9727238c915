package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A data directory made by an earlier version holds the streams without
// size limits; starting the new version updates them in place and keeps
// their messages.
func TestEnsureStreams_AddsLimitsToExistingStreams(t *testing.T) {
	ctx := context.Background()
	js := natstest.StartEmpty(t).JS
	for _, cfg := range bus.StreamConfigs(bus.StreamSettings{}) {
		cfg.MaxBytes, cfg.Discard = -1, jetstream.DiscardOld // as before the limits
		if cfg.Name == bus.StreamLogs {
			cfg.MaxBytes = 1 << 30
		}
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatalf("creating the old %s: %v", cfg.Name, err)
		}
	}
	b := bus.New(js, "test")
	const id = workorder.ID("wo-00000001")
	if _, err := b.PublishEvent(ctx, b.Event("e1", events.TypeStarted, id, &events.Started{}), nil); err != nil {
		t.Fatal(err)
	}

	want := bus.StreamSettings{EventsMaxBytes: 64 << 20, LogsMaxBytes: 32 << 20, CommandsMaxBytes: 16 << 20, DLQMaxBytes: 8 << 20}
	if err := bus.EnsureStreams(ctx, js, want); err != nil {
		t.Fatalf("EnsureStreams on existing streams: %v", err)
	}
	for name, w := range map[string]struct {
		max     int64
		discard jetstream.DiscardPolicy
	}{
		bus.StreamEvents:   {want.EventsMaxBytes, jetstream.DiscardNew},
		bus.StreamCommands: {want.CommandsMaxBytes, jetstream.DiscardNew},
		bus.StreamLogs:     {want.LogsMaxBytes, jetstream.DiscardOld},
		bus.StreamDLQ:      {want.DLQMaxBytes, jetstream.DiscardOld},
	} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.MaxBytes != w.max || info.Config.Discard != w.discard {
			t.Errorf("%s: MaxBytes %d discard %v, want %d %v", name, info.Config.MaxBytes, info.Config.Discard, w.max, w.discard)
		}
		if name == bus.StreamEvents && info.State.Msgs != 1 {
			t.Errorf("%s lost its messages in the update: %d left", name, info.State.Msgs)
		}
	}
}

// The event stream is the source of truth: when full it refuses the new
// event (bus.ErrStreamFull) and keeps every old one.
func TestEventsStream_FullRefusesNewEventsAndKeepsOld(t *testing.T) {
	ctx := context.Background()
	env := natstest.Start(t)
	if err := bus.EnsureStreams(ctx, env.JS, bus.StreamSettings{EventsMaxBytes: 8 << 10}); err != nil {
		t.Fatal(err)
	}
	b := env.Bus("test")
	var full error
	n := 0
	for ; n < 1000 && full == nil; n++ {
		id := workorder.ID(fmt.Sprintf("wo-%08x", n))
		_, full = b.PublishEvent(ctx, b.Event(fmt.Sprintf("e%d", n), events.TypeStarted, id, &events.Started{}), nil)
	}
	if !errors.Is(full, bus.ErrStreamFull) || !bus.IsStreamFull(full) {
		t.Fatalf("publishing into a full stream: %v after %d events, want ErrStreamFull", full, n)
	}
	st, err := env.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.FirstSeq != 1 || info.State.Msgs != uint64(n-1) {
		t.Errorf("stream holds seqs from %d, %d messages; want every one of the %d stored, from 1", info.State.FirstSeq, info.State.Msgs, n-1)
	}
}
