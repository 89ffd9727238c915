package compose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// allChecks runs every check of this package on the files in dir (a copy of
// deploy/compose beside a copy of deploy/nats) and returns the problems, a
// load error being one.
func allChecks(t *testing.T, dir string) []string {
	t.Helper()
	// One load with every profile, then each runnable set from it: the
	// loader's schema validation is the slow part under -race.
	all, err := load(dir, filledEnv(t, dir), allProfiles...)
	if err != nil {
		return []string{err.Error()}
	}
	var bad []string
	for _, profiles := range profileSets {
		p, err := all.WithProfiles(profiles)
		if err != nil {
			return append(bad, err.Error())
		}
		bad = append(bad, checkPortsAndVolumes(dir, p)...)
	}
	scratch := t.TempDir()
	for _, name := range serviceNames(all) {
		s := all.Services[name]
		switch {
		case isAwo(s):
			bad = append(bad, checkAwoService(dir, name, s)...)
			if s.Build != nil && s.Build.Target != "all-in-one" {
				bad = append(bad, checkClusterWiring(all, name, s)...)
			}
		case strings.HasPrefix(s.Image, "nats:"):
			bad = append(bad, checkNATSNode(all, name, scratch)...)
		}
	}
	return append(bad, checkPrometheus(dir, all)...)
}

// copyDeploy copies deploy/compose and deploy/nats into a temporary
// deploy/ and returns the copy of deploy/compose.
func copyDeploy(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"compose", "nats"} {
		src := filepath.Join(composeDir, "..", d)
		err := filepath.WalkDir(src, func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() || strings.HasSuffix(path, ".go") {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			dst := filepath.Join(root, "deploy", d, rel)
			b, err := os.ReadFile(path)
			if err == nil {
				err = os.MkdirAll(filepath.Dir(dst), 0o755)
			}
			if err == nil {
				err = os.WriteFile(dst, b, 0o644)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "deploy", "compose")
}

// TestChecks_CatchDrift breaks the copied files in the ways they could
// drift and expects the checks to name each break; the unbroken copy
// passes, so the checks are not merely strict.
func TestChecks_CatchDrift(t *testing.T) {
	if bad := allChecks(t, copyDeploy(t)); len(bad) != 0 {
		t.Fatalf("the unchanged copy fails: %v", bad)
	}
	for _, m := range []struct {
		name, file, old, new, want string
	}{
		{"shared sandbox volume", "compose.yaml", "executor-2-sandboxes:/var", "executor-1-sandboxes:/var",
			"executor-1 and executor-2 share the volume executor-1-sandboxes"},
		{"host port twice", "compose.yaml", ":8054:8053", ":8053:8053", "publish host port 8053/tcp"},
		{"unknown variable", "compose.yaml", "AWO_STREAM_REPLICAS: \"3\"", "AWO_STREAM_REPLICAS: \"3\"\n  AWO_EXECUTOR_CONCURENCY: \"4\"",
			"sets AWO_EXECUTOR_CONCURENCY, which the configuration does not read"},
		{"invalid value", "compose.yaml", "AWO_EXECUTOR_CONCURRENCY:-2", "AWO_EXECUTOR_CONCURRENCY:-0", "its environment does not load"},
		{"unknown target", "compose.yaml", "target: orchestrator}", "target: worker}", "build target \"worker\" is not one"},
		{"wrong image", "compose.yaml", "awo-github:${AWO_VERSION", "awo-gh:${AWO_VERSION", "want ghcr.io/agentworkorders/awo-github"},
		{"wrong healthcheck", "compose.yaml", `"/usr/local/bin/awo-executor", "-healthcheck"`, `"/usr/local/bin/awo-executor", "-health"`, "executor-1: healthcheck"},
		{"NATS node missing from NATS_URL", "compose.yaml", ",nats://nats-3:4222\n", "\n", "NATS_URL names [nats-1 nats-2]"},
		{"one replica", "compose.yaml", `AWO_STREAM_REPLICAS: "3"`, `AWO_STREAM_REPLICAS: "1"`, "want 3 (one replica per NATS node)"},
		{"wrong NATS user", "compose.yaml", "NATS_USER: orchestrator", "NATS_USER: admin", "NATS_USER=\"admin\", want \"orchestrator\""},
		{"database on a worker", "compose.yaml", "AWO_WORKER_ID: github-1", "AWO_WORKER_ID: github-1\n      DATABASE_URL: postgres://x@postgres/awo",
			"github-1: DATABASE_URL is set"},
		{"short stop grace", "compose.yaml", "stop_grace_period: 45s\n  depends_on", "stop_grace_period: 20s\n  depends_on", "stop_grace_period must be longer"},
		{"route missing", "nats/nats.conf", "    nats-route://nats-3:6222\n", "", "routes name [nats-1 nats-2]"},
		{"user missing", "../nats/awo.conf", "user: github", "user: gh", "no NATS user github"},
		{"scrape target missing", "prometheus/prometheus.yml", `, "executor-2:9464"`, "", "does not scrape executor-2:9464"},
	} {
		t.Run(m.name, func(t *testing.T) {
			dir := copyDeploy(t)
			path := filepath.Join(dir, m.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), m.old) {
				t.Fatalf("%s no longer contains %q: update this mutation", m.file, m.old)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(string(b), m.old, m.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			bad := allChecks(t, dir)
			for _, b := range bad {
				if strings.Contains(b, m.want) {
					return
				}
			}
			t.Errorf("after %s, no problem says %q; got %q", m.name, m.want, bad)
		})
	}
}
