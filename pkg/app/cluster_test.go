package app_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// A service given every member of a cluster in NATS_URL makes the streams
// with AWO_STREAM_REPLICAS copies, and when the member it is connected to
// stops, it reconnects to another and goes on publishing.
func TestConnectNATS_ClusterURLsReconnectToAnotherMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	c := natstest.StartCluster(t, 3)
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"NATS_URL": strings.Join(c.URLs(), ", "), "AWO_STREAM_REPLICAS": "3"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nc, js, err := app.ConnectNATS(ctx, cfg.Shared, "test", log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if configured, _, err := natstest.StreamReplicas(ctx, js, bus.StreamEvents); err != nil || configured != 3 {
		t.Fatalf("%s: %d replicas, %v", bus.StreamEvents, configured, err)
	}

	first := nc.ConnectedServerName()
	node := int(first[1] - '0') // servers are n0, n1, n2
	stopped := time.Now()
	c.Stop(node)
	for nc.ConnectedServerName() == first || !nc.IsConnected() {
		if time.Since(stopped) > 10*time.Second {
			t.Fatalf("still not reconnected 10s after %s stopped (status %v)", first, nc.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	reconnected := time.Since(stopped)
	b := bus.New(js, "awo/test")
	const wo = workorder.ID("wo-00000001")
	if _, err := b.PublishEvent(ctx, b.Event("wo-00000001.requested", events.TypeRequested, wo, &events.Requested{}), nil); err != nil {
		t.Fatalf("publishing after the reconnect: %v", err)
	}
	t.Logf("connected to %s, which stopped: reconnected to %s after %s, published %s after the stop",
		first, nc.ConnectedServerName(), reconnected.Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
}
