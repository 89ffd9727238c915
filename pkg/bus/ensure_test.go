package bus_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/natsembed"
)

// With NATS permissions a service may create the streams but not update
// them: EnsureStreams must not ask for an update when the streams already
// have their settings, and says who may when they do not.
func TestEnsureStreams_AsksForAnUpdateOnlyWhenSettingsDiffer(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte(`
authorization {
  users: [
    {user: admin, password: a}
    {user: svc, password: s, permissions: {
      publish: {allow: [">"], deny: ["$JS.API.STREAM.UPDATE.>", "$JS.API.STREAM.DELETE.>"]}
    }}
  ]
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := natsembed.Start(natsembed.Options{DataDir: t.TempDir(), ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	js := func(user, pw string) jetstream.JetStream {
		nc, err := srv.Connect(user, nats.UserInfo(user, pw))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	svc, admin := js("svc", "s"), js("admin", "a")
	ctx := context.Background()
	settings := bus.StreamSettings{EventsMaxAge: 48 * time.Hour}

	// A fresh server: the service creates the streams.
	if err := bus.EnsureStreams(ctx, svc, settings); err != nil {
		t.Fatalf("creating the streams as a service: %v", err)
	}
	// Again, and as every other service: nothing to update, no refusal.
	start := time.Now()
	if err := bus.EnsureStreams(ctx, svc, settings); err != nil {
		t.Fatalf("streams already as defined: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s: a request was left unanswered", d)
	}
	// A changed setting needs an update, which only the admin may make.
	changed := bus.StreamSettings{EventsMaxAge: 72 * time.Hour}
	err = bus.EnsureStreams(ctx, svc, changed)
	if err == nil || !strings.Contains(err.Error(), "updating stream "+bus.StreamEvents) || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("changed settings as a service: %v", err)
	}
	if err := bus.EnsureStreams(ctx, admin, changed); err != nil {
		t.Fatal(err)
	}
	st, err := admin.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != 72*time.Hour {
		t.Fatalf("MaxAge %s after the admin's update", got)
	}
	if err := bus.EnsureStreams(ctx, svc, changed); err != nil {
		t.Fatalf("after the admin's update: %v", err)
	}
}
