package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repocheck"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/gateway"
	"github.com/agentworkorders/awo/services/gateway/repositories"
)

type accessible struct{}

func (accessible) Verify(_ context.Context, url string) (repocheck.Result, error) {
	return repocheck.Result{Accessible: true, Name: "acme/app", Owner: "acme", DefaultBranch: "main"}, nil
}

func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// The configured repositories of a gateway on Postgres are rows of
// archon_configured_repositories, and a gateway started after a repository
// was deleted while none watched (its delete marker purged) drops the row.
func TestRun_ConfiguredRepositoriesInPostgres(t *testing.T) {
	env := natstest.Start(t)
	cfg := testConfig(t)
	cfg.StorageType, cfg.DatabaseURL = config.StoragePostgres, pgtest.New(t).URL
	store, closeStore, err := gateway.OpenStore(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	deps := gateway.Deps{Config: cfg, Bus: env.Bus("awo/gateway"), NC: env.NC, Store: store, Logger: quiet, RepoVerifier: accessible{}}
	g := start(t, deps)
	status, app := postJSON(t, g.base+"/api/agent-work-orders/repositories", `{"repository_url": "https://github.com/acme/app"}`)
	if status != http.StatusCreated || app["is_verified"] != true || app["default_branch"] != "main" {
		t.Fatalf("POST app: %d %v", status, app)
	}
	status, gone := postJSON(t, g.base+"/api/agent-work-orders/repositories", `{"repository_url": "https://github.com/acme/gone", "verify": false}`)
	if status != http.StatusCreated {
		t.Fatalf("POST gone: %d %v", status, gone)
	}
	var list []readmodel.ConfiguredRepository
	if code := get(t, g.base+"/api/agent-work-orders/repositories", &list); code != http.StatusOK || len(list) != 2 {
		t.Fatalf("GET: %d %+v", code, list)
	}
	rows, err := store.(readmodel.RepositoryStore).Repositories(context.Background())
	if err != nil || len(rows) != 2 || !rows[0].IsVerified || *rows[0].DefaultBranch != "main" {
		t.Fatalf("archon_configured_repositories: %+v, %v", rows, err)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}

	bucket, err := repositories.Open(context.Background(), env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bucket.Delete(context.Background(), gone["id"].(string)); err != nil {
		t.Fatal(err)
	}
	if err := bucket.KV().PurgeDeletes(context.Background(), jetstream.DeleteMarkersOlderThan(-1)); err != nil {
		t.Fatal(err)
	}

	// A row Archon wrote (no bucket revision, a random id) is imported
	// into the bucket under its repository's id.
	const archonID = "3b241101-e2bb-4255-8caf-4136c566a962"
	legacy := readmodel.ConfiguredRepository{ID: archonID, RepositoryURL: "https://github.com/acme/legacy",
		DefaultSandboxType: workorder.SandboxBranch, DefaultCommands: []workorder.Step{workorder.StepExecute},
		CreatedAt: time.Now().Add(time.Hour), UpdatedAt: time.Now()}
	if err := store.(readmodel.RepositoryStore).PutRepository(context.Background(), legacy); err != nil {
		t.Fatal(err)
	}

	g2 := start(t, deps)
	legacyID := ""
	deadline := time.Now().Add(10 * time.Second)
	for {
		code := get(t, g2.base+"/api/agent-work-orders/repositories", &list)
		if code == http.StatusOK && len(list) == 2 && list[0].ID == app["id"] && list[1].ID != archonID {
			legacyID = list[1].ID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET after restart: %d %+v; want app and the imported legacy row", code, list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if list[1].RepositoryURL != legacy.RepositoryURL || list[1].DefaultSandboxType != workorder.SandboxBranch {
		t.Errorf("imported row: %+v", list[1])
	}
	req, _ := http.NewRequest(http.MethodDelete, g2.base+"/api/agent-work-orders/repositories/"+legacyID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE of the imported row: %d", resp.StatusCode)
	}
	if code := get(t, g2.base+"/api/agent-work-orders/repositories", &list); code != http.StatusOK || len(list) != 1 || list[0].ID != app["id"] {
		t.Errorf("GET after deleting the imported row: %d %+v", code, list)
	}
}
