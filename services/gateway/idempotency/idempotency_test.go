package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
)

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key  string
		want string // "" valid, else part of the error
	}{
		{"a", ""},
		{"8e03978e-40d5-43e8-bc93-6894a57f9324", ""},
		{"with spaces and ~!@#$%^&*()<>", ""},
		{strings.Repeat("k", 255), ""},
		{"", "1 to 255 characters"},
		{strings.Repeat("k", 256), "got 256"},
		{"tab\there", "byte 0x09 at position 3"},
		{"é", "printable ASCII"},
		{"del\x7f", "byte 0x7f"},
	}
	for _, tt := range tests {
		err := idempotency.ValidateKey(tt.key)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateKey(%q) = %v, want valid", tt.key, err)
		case tt.want != "" && (err == nil || !errors.Is(err, idempotency.ErrInvalidKey) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey mentioning %q", tt.key, err, tt.want)
		}
	}
}

func TestRequestHash_SameRequestSameHash(t *testing.T) {
	a := events.Requested{RepositoryURL: "https://github.com/acme/demo", UserRequest: "Fix it",
		SelectedCommands: []workorder.Step{workorder.StepPlanning}, SandboxType: workorder.SandboxWorktree}
	b := a
	b.SelectedCommands = []workorder.Step{workorder.StepPlanning}
	if idempotency.RequestHash(a) != idempotency.RequestHash(b) {
		t.Error("equal requests hash differently")
	}
	for name, change := range map[string]func(*events.Requested){
		"user_request":      func(r *events.Requested) { r.UserRequest = "Fix it!" },
		"repository_url":    func(r *events.Requested) { r.RepositoryURL = "https://github.com/acme/other" },
		"selected_commands": func(r *events.Requested) { r.SelectedCommands = []workorder.Step{workorder.StepExecute} },
		"client id":         func(r *events.Requested) { r.WorkOrderID = "wo-0000abcd" },
		"issue":             func(r *events.Requested) { r.GitHubIssueNumber = "4" },
	} {
		c := a
		change(&c)
		if idempotency.RequestHash(c) == idempotency.RequestHash(a) {
			t.Errorf("a different %s hashes the same", name)
		}
	}
}

// Of many concurrent claims of one key, exactly one stores its record and
// every other sees that record; another key is independent.
func TestStore_ClaimIsAtomic(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	// Two stores on one bucket: two gateway replicas.
	s1, err := idempotency.Open(ctx, env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := idempotency.Open(ctx, env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	claims := make([]idempotency.Claim, n)
	var wg sync.WaitGroup
	for i := range n {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		wg.Go(func() {
			c, err := s.Claim(ctx, "the key", idempotency.Record{WorkOrderID: workorder.ID("wo-0000000" + string(rune('a'+i%6))), RequestHash: "h"})
			if err != nil {
				t.Error(err)
			}
			claims[i] = c
		})
	}
	wg.Wait()
	fresh := 0
	var winner idempotency.Record
	for _, c := range claims {
		if c.Fresh {
			fresh++
			winner = c.Record
		}
	}
	if fresh != 1 {
		t.Fatalf("%d claims stored their record, want exactly 1", fresh)
	}
	for i, c := range claims {
		if c.Record != winner {
			t.Errorf("claim %d sees %+v, want the winner's %+v", i, c.Record, winner)
		}
	}
	other, err := s1.Claim(ctx, "another key", idempotency.Record{WorkOrderID: "wo-0000ffff", RequestHash: "x"})
	if err != nil || !other.Fresh {
		t.Errorf("another key: %+v, %v; want a fresh claim", other, err)
	}
}

// A released key can be claimed again; a replaced one answers with the new
// record; both refuse a stale revision.
func TestStore_ReplaceAndRelease(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	s, err := idempotency.Open(ctx, env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	first := idempotency.Record{WorkOrderID: "wo-00000001", RequestHash: "h"}
	c, err := s.Claim(ctx, "k", first)
	if err != nil || !c.Fresh {
		t.Fatalf("claim: %+v, %v", c, err)
	}
	second := idempotency.Record{WorkOrderID: "wo-00000002", RequestHash: "h"}
	rev, err := s.Replace(ctx, "k", c.Revision, second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Replace(ctx, "k", c.Revision, first); err == nil {
		t.Error("replace with a stale revision succeeded")
	}
	if again, err := s.Claim(ctx, "k", first); err != nil || again.Fresh || again.Record != second {
		t.Errorf("claim after replace: %+v, %v; want the replaced record", again, err)
	}
	if err := s.Release(ctx, "k", c.Revision); err == nil {
		t.Error("release with a stale revision succeeded")
	}
	if err := s.Release(ctx, "k", rev); err != nil {
		t.Fatal(err)
	}
	if again, err := s.Claim(ctx, "k", first); err != nil || !again.Fresh {
		t.Errorf("claim after release: %+v, %v; want fresh", again, err)
	}
}
