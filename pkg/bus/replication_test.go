package bus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

func streamNames() []string {
	var names []string
	for _, cfg := range bus.StreamConfigs(bus.StreamSettings{}) {
		names = append(names, cfg.Name)
	}
	return names
}

// The default keeps one copy of every stream, as before the setting.
func TestEnsureStreams_DefaultIsOneReplica(t *testing.T) {
	ctx := context.Background()
	js := natstest.Start(t).JS
	for _, name := range streamNames() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if cfg := st.CachedInfo().Config; cfg.Replicas != 1 || cfg.Placement != nil {
			t.Errorf("%s: %d replicas, placement %+v; want 1 and none", name, cfg.Replicas, cfg.Placement)
		}
	}
}

// A single server cannot keep three copies: the start fails saying so,
// for a fresh server and for one whose streams exist with one replica.
func TestEnsureStreams_ReplicasOnASingleServerFailClearly(t *testing.T) {
	ctx := context.Background()
	three := bus.StreamSettings{Replication: bus.Replication{Replicas: 3}}
	for name, js := range map[string]jetstream.JetStream{
		"fresh":    natstest.StartEmpty(t).JS,
		"existing": natstest.Start(t).JS,
	} {
		err := bus.EnsureStreams(ctx, js, three)
		if err == nil || !strings.Contains(err.Error(), "AWO_STREAM_REPLICAS=3 but the NATS server is not clustered") ||
			!strings.Contains(err.Error(), bus.StreamEvents) {
			t.Errorf("%s server: err = %v, want the replicas named as the reason", name, err)
		}
	}
}

// On a cluster every stream is R3 with AWO_STREAM_REPLICAS=3, placed by
// the tags; an R1 stream made before is scaled in place with its messages.
func TestEnsureStreams_ThreeReplicasOnACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := natstest.StartCluster(t, 3)
	_, js := c.Connect(t, "test")

	// As a deployment from before the setting left them.
	if err := bus.EnsureStreams(ctx, js, bus.StreamSettings{}); err != nil {
		t.Fatal(err)
	}
	// Retried: a stream just made on a cluster may not have its leader yet
	// ("no response from stream", seen once in CI).
	msg := &nats.Msg{Subject: "workorders.events.wo-1.workorder.requested", Data: []byte("{}")}
	if _, err := bus.PublishRetrying(ctx, js, msg); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	want := bus.StreamSettings{Replication: bus.Replication{Replicas: 3, PlacementTags: []string{natstest.ClusterTag}}}
	if err := bus.EnsureStreams(ctx, js, want); err != nil {
		t.Fatalf("scaling the streams to 3 replicas: %v", err)
	}
	t.Logf("5 streams scaled from 1 to 3 replicas and moved to the tag in %s", time.Since(t0))
	for _, name := range streamNames() {
		c.WaitStreamReplicas(name, 3)
		configured, placed, err := natstest.StreamReplicas(ctx, js, name)
		if err != nil {
			t.Fatal(err)
		}
		if configured != 3 || placed != 3 {
			t.Errorf("%s: %d replicas configured, %d placed; want 3", name, configured, placed)
		}
	}
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 || info.Config.Placement == nil || info.Config.Placement.Tags[0] != natstest.ClusterTag {
		t.Errorf("after scaling: %d messages, placement %+v", info.State.Msgs, info.Config.Placement)
	}
	// Durable consumers leave Replicas at 0: as many as their stream.
	for stream, durable := range map[string]string{bus.StreamCommands: "executor", bus.StreamEvents: "orchestrator"} {
		cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: durable, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "workorders.>",
		})
		if err != nil {
			t.Fatalf("consumer %s on %s: %v", durable, stream, err)
		}
		c.ConsumerLeaderOf(stream, durable)
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("consumer %s on %s: cluster %+v, want a leader and 2 replicas", durable, stream, info.Cluster)
		}
	}
	// Started again with the same settings: nothing to change.
	if err := bus.EnsureStreams(ctx, js, want); err != nil {
		t.Fatal(err)
	}
	// More replicas than servers: refused with the reason.
	err = bus.EnsureStreams(ctx, js, bus.StreamSettings{Replication: bus.Replication{Replicas: 5}})
	if err == nil || !strings.Contains(err.Error(), "AWO_STREAM_REPLICAS=5") {
		t.Errorf("5 replicas on 3 servers: %v", err)
	}
	// A tag no server has.
	err = bus.EnsureStreams(ctx, js, bus.StreamSettings{Replication: bus.Replication{Replicas: 3, PlacementTags: []string{"nowhere"}}})
	if err == nil || !strings.Contains(err.Error(), "AWO_STREAM_PLACEMENT_TAGS=nowhere") {
		t.Errorf("placement on a tag no server has: %v", err)
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("the explained error lost JetStream's: %v", err)
	}
}
