package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// RunRepositories runs the configured-repository contract, one subtest per
// behaviour, each on a fresh store.
func RunRepositories(t *testing.T, newStore func(t *testing.T) readmodel.RepositoryStore) {
	tests := []struct {
		name string
		test func(t *testing.T, s readmodel.RepositoryStore)
	}{
		{"Empty_ListsNothing", testReposEmpty},
		{"Put_ListsOldestFirst_FieldForField", testReposPutList},
		{"OlderRevision_NeverMovesTheRowBack", testReposOlderRevision},
		{"Delete_GuardedByRevision", testReposDelete},
		{"SameURLUnderAnotherID_GivesWay", testReposSameURL},
		{"Results_AreCopies", testReposCopies},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newStore(t)) })
	}
}

var repoTime = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

// Repo returns a configured repository with every field set, created
// offset seconds after a fixed instant.
func Repo(id, url string, rev uint64, offset int) readmodel.ConfiguredRepository {
	name, owner, branch := "acme/app", "acme", "main"
	verified := repoTime.Add(time.Duration(offset)*time.Second + time.Minute)
	return readmodel.ConfiguredRepository{
		ID: id, RepositoryURL: url, DisplayName: &name, Owner: &owner, DefaultBranch: &branch,
		IsVerified: true, LastVerifiedAt: &verified, DefaultSandboxType: workorder.SandboxBranch,
		DefaultCommands: []workorder.Step{workorder.StepCreateBranch, workorder.StepExecute},
		CreatedAt:       repoTime.Add(time.Duration(offset) * time.Second), UpdatedAt: verified, Revision: rev,
	}
}

const (
	repoID1 = "6f1f7d3a-0b5c-5e4e-9d61-1c2b3a4d5e6f"
	repoID2 = "0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d"
)

func putRepo(t *testing.T, s readmodel.RepositoryStore, r readmodel.ConfiguredRepository) {
	t.Helper()
	if err := s.PutRepository(context.Background(), r); err != nil {
		t.Fatalf("PutRepository(%s rev %d): %v", r.ID, r.Revision, err)
	}
}

func listRepos(t *testing.T, s readmodel.RepositoryStore) []readmodel.ConfiguredRepository {
	t.Helper()
	rs, err := s.Repositories(context.Background())
	if err != nil {
		t.Fatalf("Repositories: %v", err)
	}
	return rs
}

func sameRepos(t *testing.T, got []readmodel.ConfiguredRepository, want ...readmodel.ConfiguredRepository) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d repositories, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		// Postgres keeps microseconds and may hand back another location.
		for _, p := range []*time.Time{&g.CreatedAt, &g.UpdatedAt, &w.CreatedAt, &w.UpdatedAt, g.LastVerifiedAt, w.LastVerifiedAt} {
			if p != nil {
				*p = p.UTC().Truncate(time.Microsecond)
			}
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("repository %d:\n got  %+v\n want %+v", i, g, w)
		}
	}
}

func testReposEmpty(t *testing.T, s readmodel.RepositoryStore) {
	if rs := listRepos(t, s); len(rs) != 0 {
		t.Errorf("empty store lists %+v", rs)
	}
}

func testReposPutList(t *testing.T, s readmodel.RepositoryStore) {
	a, b := Repo(repoID1, "https://github.com/acme/a", 1, 0), Repo(repoID2, "https://github.com/acme/b", 2, 5)
	b.DisplayName, b.Owner, b.DefaultBranch, b.LastVerifiedAt, b.IsVerified = nil, nil, nil, nil, false
	putRepo(t, s, b)
	putRepo(t, s, a)
	sameRepos(t, listRepos(t, s), a, b)
}

func testReposOlderRevision(t *testing.T, s readmodel.RepositoryStore) {
	newer := Repo(repoID1, "https://github.com/acme/a", 5, 0)
	newer.DefaultSandboxType = workorder.SandboxWorktree
	older := Repo(repoID1, "https://github.com/acme/a", 3, 0)
	putRepo(t, s, newer)
	putRepo(t, s, older)
	putRepo(t, s, newer) // the same revision again: a replay
	sameRepos(t, listRepos(t, s), newer)
}

func testReposDelete(t *testing.T, s readmodel.RepositoryStore) {
	ctx := context.Background()
	r := Repo(repoID1, "https://github.com/acme/a", 7, 0)
	putRepo(t, s, r)
	// A delete before the row's revision: the repository was created again
	// since, so it stays.
	if err := s.DeleteRepository(ctx, repoID1, 6); err != nil {
		t.Fatal(err)
	}
	sameRepos(t, listRepos(t, s), r)
	if err := s.DeleteRepository(ctx, repoID1, 8); err != nil {
		t.Fatal(err)
	}
	sameRepos(t, listRepos(t, s))
	if err := s.DeleteRepository(ctx, repoID2, 9); err != nil {
		t.Errorf("deleting an unknown id: %v", err)
	}
}

func testReposSameURL(t *testing.T, s readmodel.RepositoryStore) {
	old := Repo(repoID1, "https://github.com/acme/a", 1, 0)
	putRepo(t, s, old)
	again := Repo(repoID2, "https://github.com/acme/a", 2, 1)
	putRepo(t, s, again)
	sameRepos(t, listRepos(t, s), again)
}

func testReposCopies(t *testing.T, s readmodel.RepositoryStore) {
	r := Repo(repoID1, "https://github.com/acme/a", 1, 0)
	putRepo(t, s, r)
	got := listRepos(t, s)
	*got[0].DisplayName = "changed"
	got[0].DefaultCommands[0] = "changed"
	sameRepos(t, listRepos(t, s), r)
}
