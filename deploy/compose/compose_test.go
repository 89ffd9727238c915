package compose

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/deploy/internal/awoenv"
)

var allProfiles = []string{"cluster", "single", "observability"}

func reportAll(t *testing.T, bad []string) {
	t.Helper()
	for _, b := range bad {
		t.Error(b)
	}
}

// TestEnvExample_EverySecretIsRequired: each empty value of .env.example is
// a secret Compose refuses to start without (${NAME:?...}), so a forgotten
// one stops `docker compose up` naming it; and every required variable of
// compose.yaml is listed there, every optional one at least in a comment.
func TestEnvExample_EverySecretIsRequired(t *testing.T) {
	keys, values := envExample(t, composeDir)
	raw, err := os.ReadFile(filepath.Join(composeDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(composeDir, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	required := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+):\?`).FindAllStringSubmatch(string(raw), -1) {
		required[m[1]] = true
	}
	for name := range required {
		if v, ok := values[name]; !ok || v != "" {
			t.Errorf("compose.yaml requires %s but .env.example does not list it as a secret to fill in (NAME= with no value)", name)
		}
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+):-`).FindAllStringSubmatch(string(raw), -1) {
		if !regexp.MustCompile(`(?m)^#? ?` + m[1] + `=`).Match(example) {
			t.Errorf("compose.yaml reads %s (with a default) but .env.example does not mention it", m[1])
		}
	}
	for _, want := range []string{"ANTHROPIC_API_KEY", "GH_TOKEN", "AWO_API_TOKENS", "POSTGRES_PASSWORD",
		"AWO_NATS_ADMIN_PASSWORD", "AWO_NATS_GATEWAY_PASSWORD", "AWO_NATS_ORCHESTRATOR_PASSWORD",
		"AWO_NATS_EXECUTOR_PASSWORD", "AWO_NATS_GITHUB_PASSWORD"} {
		if !required[want] {
			t.Errorf("%s is not a required secret of compose.yaml", want)
		}
	}

	full := filledEnv(t, composeDir)
	for _, k := range keys {
		if values[k] != "" {
			t.Errorf(".env.example gives %s a value; secrets stay empty there and optional settings commented out", k)
			continue
		}
		missing := map[string]string{}
		for kk, v := range full {
			if kk != k {
				missing[kk] = v
			}
		}
		_, err := load(composeDir, missing, allProfiles...)
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("without %s, loading compose.yaml gave %v; want an error naming it", k, err)
		}
	}
}

// TestCompose_Profiles: `cluster` is the whole cluster, `single` the
// all-in-one alone, `observability` adds Jaeger and Prometheus.
func TestCompose_Profiles(t *testing.T) {
	env := filledEnv(t, composeDir)
	for _, tc := range []struct {
		profiles []string
		want     []string
	}{
		{[]string{"cluster"}, []string{"executor-1", "executor-2", "gateway-1", "gateway-2", "github-1",
			"nats-1", "nats-2", "nats-3", "orchestrator-1", "orchestrator-2", "postgres"}},
		{[]string{"single"}, []string{"awo"}},
		{[]string{"observability"}, []string{"jaeger", "prometheus"}},
	} {
		got := serviceNames(mustLoad(t, composeDir, env, tc.profiles...))
		if !slices.Equal(got, tc.want) {
			t.Errorf("--profile %v runs %v, want %v", tc.profiles, got, tc.want)
		}
	}
	if p, err := load(composeDir, env); err == nil && len(p.Services) != 0 {
		t.Errorf("with no profile %v would start; every service belongs to a profile", serviceNames(p))
	}
}

// TestCompose_AwoServices checks every awo service: contract image and
// build target, health check, variables the configuration knows (and
// loads without error), stop grace, and on the cluster the NATS, stream
// replica and database wiring.
func TestCompose_AwoServices(t *testing.T) {
	p := mustLoad(t, composeDir, filledEnv(t, composeDir), allProfiles...)
	seen := map[string]int{}
	for _, name := range serviceNames(p) {
		s := p.Services[name]
		if !isAwo(s) {
			if s.Build != nil {
				t.Errorf("%s is built here but its image is not under %s", name, imageRegistry)
			}
			continue
		}
		reportAll(t, checkAwoService(composeDir, name, s))
		if s.Build != nil {
			seen[s.Build.Target]++
			if s.Build.Target != "all-in-one" {
				reportAll(t, checkClusterWiring(p, name, s))
			}
		}
	}
	for target, want := range map[string]int{"gateway": 2, "orchestrator": 2, "executor": 2, "github": 1, "all-in-one": 1} {
		if seen[target] != want {
			t.Errorf("%d services of target %s, want %d", seen[target], target, want)
		}
	}
}

// TestCompose_PortsAndVolumes checks each set of services that runs
// together.
func TestCompose_PortsAndVolumes(t *testing.T) {
	env := filledEnv(t, composeDir)
	for _, profiles := range profileSets {
		for _, b := range checkPortsAndVolumes(composeDir, mustLoad(t, composeDir, env, profiles...)) {
			t.Errorf("--profile %v: %s", profiles, b)
		}
	}
}

// TestCompose_NATSCluster parses each node's configuration as nats-server
// does, and checks the image runs the nats-server version the tests embed.
func TestCompose_NATSCluster(t *testing.T) {
	p := mustLoad(t, composeDir, filledEnv(t, composeDir), "cluster")
	nodes := natsNodes(p)
	if len(nodes) != 3 {
		t.Fatalf("NATS nodes %v, want 3", nodes)
	}
	scratch := t.TempDir()
	for _, n := range nodes {
		reportAll(t, checkNATSNode(p, n, scratch))
	}

	want := embeddedNATSVersion(t)
	for _, n := range nodes {
		if img := p.Services[n].Image; img != "nats:"+want+"-alpine" {
			t.Errorf("%s runs %s; the tests run nats-server %s (pkg/go.mod): use nats:%s-alpine", n, img, want, want)
		}
	}
}

func embeddedNATSVersion(t *testing.T) string {
	t.Helper()
	v, err := awoenv.NATSServerVersion(filepath.Join(composeDir, "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCompose_PrometheusScrapesEveryService: the observability profile
// sees every awo service's /metrics.
func TestCompose_PrometheusScrapesEveryService(t *testing.T) {
	reportAll(t, checkPrometheus(composeDir, mustLoad(t, composeDir, filledEnv(t, composeDir), allProfiles...)))
}
