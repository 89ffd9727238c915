package repositories_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway/repositories"
)

var uuidV5 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func idOf(t *testing.T, raw string) string {
	t.Helper()
	r, err := repourl.Parse(raw, true)
	if err != nil {
		t.Fatal(err)
	}
	return repositories.IDFor(r)
}

func TestIDFor_OneIDPerRepository(t *testing.T) {
	same := [][]string{
		{"https://github.com/acme/app", "https://github.com/acme/app.git", "https://github.com/acme/app/",
			"git@github.com:acme/app.git", "ssh://git@github.com/acme/app", "https://github.com/ACME/App"},
		{"https://gitlab.example.com/group/sub/app", "git@gitlab.example.com:group/sub/app.git"},
	}
	seen := map[string]string{}
	for _, group := range same {
		want := idOf(t, group[0])
		if !uuidV5.MatchString(want) {
			t.Errorf("%s: id %s is not a version 5 UUID", group[0], want)
		}
		for _, raw := range group[1:] {
			if got := idOf(t, raw); got != want {
				t.Errorf("%s: id %s, want %s (as %s)", raw, got, want, group[0])
			}
		}
		if other, dup := seen[want]; dup {
			t.Errorf("%s and %s share id %s", group[0], other, want)
		}
		seen[want] = group[0]
	}
	// Off github.com, case names another repository.
	if idOf(t, "https://gitlab.example.com/Group/sub/app") == idOf(t, same[1][0]) {
		t.Error("case folded off github.com")
	}
	if idOf(t, "https://github.com/acme/app2") == idOf(t, same[0][0]) {
		t.Error("two repositories share an id")
	}
}

func open(t *testing.T) *repositories.Store {
	t.Helper()
	s, err := repositories.Open(context.Background(), natstest.Start(t).JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore_CreateGetUpdateDelete(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	id := idOf(t, "https://github.com/acme/app")
	rec := readmodel.ConfiguredRepository{ID: id, RepositoryURL: "https://github.com/acme/app", DefaultSandboxType: workorder.SandboxWorktree}
	if _, err := s.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, rec); !errors.Is(err, repositories.ErrExists) {
		t.Errorf("second Create: %v, want ErrExists", err)
	}
	for _, bad := range []string{"does-not-exist", "a.b", "*", ">", ""} {
		if _, err := s.Get(ctx, bad); !errors.Is(err, repositories.ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", bad, err)
		}
	}

	// Concurrent updates on one repository lose none of each other's
	// changes: each appends a command.
	steps := []workorder.Step{workorder.StepPlanning, workorder.StepExecute, workorder.StepCommit, workorder.StepCreatePR}
	var wg sync.WaitGroup
	for _, step := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Update(ctx, id, func(r *readmodel.ConfiguredRepository) error {
				r.DefaultCommands = append(r.DefaultCommands, step)
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.Get(ctx, id)
	if err != nil || len(got.DefaultCommands) != len(steps) {
		t.Errorf("after concurrent updates: %+v, %v; want all %d commands", got.DefaultCommands, err, len(steps))
	}

	rev, err := s.Delete(ctx, id)
	if err != nil || rev <= got.Revision {
		t.Fatalf("Delete: revision %d (last put %d), %v", rev, got.Revision, err)
	}
	if _, err := s.Delete(ctx, id); !errors.Is(err, repositories.ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Create(ctx, rec); err != nil {
		t.Errorf("Create after Delete: %v", err)
	}
}
