// Package compose holds the tests of deploy/compose: compose.yaml is loaded
// with compose-go (the loader docker compose itself uses, schema validation
// included) and checked against the Dockerfile targets, the configuration's
// variables, the NATS configuration and the Prometheus targets. No Docker
// daemon is needed.
package compose

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeDir is where compose.yaml sits, relative to this package.
const composeDir = "."

// envExample reads .env.example: the keys it sets (empty ones are the
// secrets to fill in) in file order.
func envExample(t *testing.T, dir string) (keys []string, values map[string]string) {
	t.Helper()
	path := filepath.Join(dir, ".env.example")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	values, err = dotenv.ParseWithLookup(f, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, values
}

// filledEnv is .env.example with every empty value replaced by a made-up
// secret of the kind asked for (long enough for AWO_API_TOKENS, hex like
// the openssl command the file suggests).
func filledEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	_, values := envExample(t, dir)
	out := map[string]string{}
	for k, v := range values {
		if v == "" {
			v = fmt.Sprintf("%x", "test-"+k)
		}
		out[k] = v
	}
	return out
}

// load reads dir/compose.yaml as `docker compose --profile ...` would with
// env as its .env, and nothing from this process's environment.
func load(dir string, env map[string]string, profiles ...string) (*types.Project, error) {
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(list),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func mustLoad(t *testing.T, dir string, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	p, err := load(dir, env, profiles...)
	if err != nil {
		t.Fatalf("loading %s with profiles %v: %v", filepath.Join(dir, "compose.yaml"), profiles, err)
	}
	return p
}

// profileSets are the ways the file is meant to be started; each is
// checked on its own (ports, volumes), since services of different sets
// never run together.
var profileSets = [][]string{
	{"cluster"},
	{"cluster", "observability"},
	{"single"},
	{"single", "observability"},
}

// env returns a service's environment as plain strings (a variable set
// without a value counts as empty).
func env(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		} else {
			out[k] = ""
		}
	}
	return out
}

func serviceNames(p *types.Project) []string {
	names := p.ServiceNames()
	slices.Sort(names)
	return names
}

// isAwo tells the services that run an awo image.
func isAwo(s types.ServiceConfig) bool {
	return strings.HasPrefix(s.Image, imageRegistry)
}

const imageRegistry = "ghcr.io/agentworkorders/"
