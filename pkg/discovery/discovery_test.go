package discovery_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/agentworkorders/awo/pkg/discovery"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

// Two services registered on their own connections are visible through the
// plain NATS API ($SRV.PING, $SRV.INFO) from a third connection, and gone
// once stopped.
func TestRegister_VisibleThroughSRVAPI(t *testing.T) {
	env := natstest.Start(t)
	conns := map[string]*nats.Conn{}
	register := func(name, version string) micro.Service {
		nc, err := env.Server.Connect(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[name] = nc
		svc, err := discovery.Register(nc, discovery.Config{Name: name, Version: version, Description: "test " + name,
			Health: func(context.Context) map[string]any { return map[string]any{"workers": 2, "status": "ignored"} }})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	exec := register("awo-executor", "1.2.3")
	gw := register("awo-gateway", "v0.1.0-dev")
	other := register("someone-else", "0.0.1")
	defer func() { _ = other.Stop() }()

	ctx := context.Background()
	got, err := discovery.List(ctx, env.NC, "awo-", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := []discovery.Instance{
		{Name: "awo-executor", ID: exec.Info().ID, Version: "1.2.3"},
		{Name: "awo-gateway", ID: gw.Info().ID, Version: "v0.1.0-dev"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("List = %+v, want %+v", got, want)
	}

	// What `nats micro info awo-executor` asks.
	subj, _ := micro.ControlSubject(micro.InfoVerb, "awo-executor", "")
	msg, err := env.NC.Request(subj, nil, 2*time.Second)
	if err != nil {
		t.Fatalf("$SRV.INFO: %v", err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		t.Fatal(err)
	}
	if info.Description != "test awo-executor" || len(info.Endpoints) != 1 || info.Endpoints[0].Subject != discovery.HealthSubject("awo-executor") {
		t.Errorf("$SRV.INFO = %+v", info)
	}

	// The health endpoint answers JSON with the identity and the extras.
	msg, err = env.NC.Request(discovery.HealthSubject("awo-gateway"), nil, 2*time.Second)
	if err != nil {
		t.Fatalf("health request: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(msg.Data, &h); err != nil {
		t.Fatal(err)
	}
	if h["status"] != "ok" || h["id"] != gw.Info().ID || h["version"] != "v0.1.0-dev" || h["workers"] != float64(2) {
		t.Errorf("health = %v", h)
	}

	if err := exec.Stop(); err != nil {
		t.Fatal(err)
	}
	// Stop unsubscribes on the service's own connection; a round trip on
	// it makes sure the server has seen that before the next ping.
	if err := conns["awo-executor"].Flush(); err != nil {
		t.Fatal(err)
	}
	got, err = discovery.List(ctx, env.NC, "awo-", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "awo-gateway" {
		t.Errorf("after stopping the executor, List = %+v", got)
	}
}

func TestRegister_RejectsInvalidName(t *testing.T) {
	env := natstest.Start(t)
	if _, err := discovery.Register(env.NC, discovery.Config{Name: "has space", Version: "1.0.0"}); err == nil {
		t.Fatal("want an error for an invalid name")
	}
}

// micro insists on semver; a build stamped "dev" or "v1.2.3-4-gabc" still
// registers, and List reports the version as built.
func TestRegister_NonSemverVersionIsKept(t *testing.T) {
	env := natstest.Start(t)
	for _, v := range []string{"dev", "v1.2.3-4-gabcdef"} {
		svc, err := discovery.Register(env.NC, discovery.Config{Name: "awo-x", Version: v})
		if err != nil {
			t.Fatalf("version %q: %v", v, err)
		}
		got, err := discovery.List(context.Background(), env.NC, "awo-", 200*time.Millisecond)
		_ = svc.Stop()
		if err != nil || len(got) != 1 || got[0].Version != v {
			t.Errorf("version %q: List = %+v, %v", v, got, err)
		}
	}
}
