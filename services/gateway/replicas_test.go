package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
	"github.com/agentworkorders/awo/services/gateway/repositories"
)

// The gateway's key-value buckets take AWO_STREAM_REPLICAS like the
// streams: R3 on a cluster (read from the bucket's own stream), and a
// clear refusal on a single server.
func TestBuckets_TakeTheStreamReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	three := bus.Replication{Replicas: 3, PlacementTags: []string{natstest.ClusterTag}}

	single := natstest.Start(t).JS
	if _, err := idempotency.Open(ctx, single, three); err == nil ||
		!strings.Contains(err.Error(), "AWO_STREAM_REPLICAS=3 but the NATS server is not clustered") {
		t.Errorf("idempotency bucket with 3 replicas on one server: %v", err)
	}

	c := natstest.StartCluster(t, 3)
	_, js := c.Connect(t, "gateway")
	// Made with one replica by an earlier start, then scaled in place.
	if _, err := repositories.Open(ctx, js, bus.Replication{}); err != nil {
		t.Fatal(err)
	}
	if _, err := idempotency.Open(ctx, js, three); err != nil {
		t.Fatal(err)
	}
	if _, err := repositories.Open(ctx, js, bus.Replication{Replicas: 3}); err != nil {
		t.Fatalf("scaling the repositories bucket: %v", err)
	}
	for _, bucket := range []string{idempotency.Bucket, repositories.Bucket} {
		stream := "KV_" + bucket
		c.WaitStreamReplicas(stream, 3)
		configured, placed, err := natstest.StreamReplicas(ctx, js, stream)
		if err != nil {
			t.Fatal(err)
		}
		if configured != 3 || placed != 3 {
			t.Errorf("%s: %d replicas configured, %d placed; want 3", stream, configured, placed)
		}
	}
}
