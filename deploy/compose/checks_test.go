package compose

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
	"sigs.k8s.io/yaml"

	"github.com/agentworkorders/awo/deploy/internal/awoenv"
	"github.com/agentworkorders/awo/pkg/config"
)

// The checks return what they find wrong, one line each, so that the tests
// can also show that a broken file is caught (mutation_test.go).

// targets are the Dockerfile targets of docs (SHIP_CONTRACT): the binary
// each image runs and its image name.
var targets = map[string]struct{ binary, image string }{
	"gateway":      {"awo-gateway", "awo-gateway"},
	"orchestrator": {"awo-orchestrator", "awo-orchestrator"},
	"executor":     {"awo-executor", "awo-executor"},
	"github":       {"awo-github", "awo-github"},
	"all-in-one":   {"awo", "awo"},
}

// natsUsers is the NATS user of deploy/nats/awo.conf each target connects
// as (the all-in-one embeds its server and needs none).
var natsUsers = map[string]string{
	"gateway": "gateway", "orchestrator": "orchestrator", "executor": "executor", "github": "github",
}

// dockerfileTargets reads the `FROM ... AS name` stages of the repository's
// Dockerfile, if there is one yet.
func dockerfileTargets(root string) (map[string]bool, bool) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return nil, false
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?im)^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)`).FindAllStringSubmatch(string(b), -1) {
		out[strings.ToLower(m[1])] = true
	}
	return out, true
}

// checkAwoService checks one awo service against the contract and the
// configuration: image, build target, health check, restart, variables.
func checkAwoService(dir, name string, s types.ServiceConfig) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, name+": "+fmt.Sprintf(format, a...)) }
	if s.Build == nil {
		add("no build section")
		return bad
	}
	target, ok := targets[s.Build.Target]
	if !ok {
		add("build target %q is not one of the Dockerfile's targets (gateway, orchestrator, executor, github, all-in-one)", s.Build.Target)
		return bad
	}
	if rel, err := filepath.Rel(absDir(dir), s.Build.Context); err != nil || rel != filepath.Join("..", "..") {
		add("build context %s is not the repository root", s.Build.Context)
	}
	if stages, ok := dockerfileTargets(filepath.Join(dir, "..", "..")); ok && !stages[s.Build.Target] {
		add("build target %q has no stage in the Dockerfile", s.Build.Target)
	}
	if repo, _, _ := strings.Cut(s.Image, ":"); repo != imageRegistry+target.image {
		add("image %s, want %s:<version> for target %s", s.Image, imageRegistry+target.image, s.Build.Target)
	}
	want := []string{"CMD", "/usr/local/bin/" + target.binary, "-healthcheck"}
	if s.HealthCheck == nil || !slices.Equal(s.HealthCheck.Test, want) {
		var got []string
		if s.HealthCheck != nil {
			got = s.HealthCheck.Test
		}
		add("healthcheck %q, want %q", got, want)
	}
	if s.Restart != "unless-stopped" && s.Restart != "always" {
		add("restart %q: a crashed service would stay down", s.Restart)
	}

	e := env(s)
	for k := range e {
		if !awoenv.Known(k) {
			add("sets %s, which the configuration does not read (pkg/config)", k)
		}
	}
	getenv := func(k string) string { return e[k] }
	if _, err := config.Load(getenv); err != nil {
		add("its environment does not load: %v", err)
	}
	grace := awoenv.ShutdownGrace(e["AWO_SHUTDOWN_GRACE"])
	if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= grace {
		add("stop_grace_period must be longer than AWO_SHUTDOWN_GRACE (%s), or Docker kills running steps", grace)
	}
	return bad
}

func absDir(dir string) string {
	a, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return a
}

// natsNodes are the services running the nats image, by name.
func natsNodes(p *types.Project) []string {
	var out []string
	for _, n := range serviceNames(p) {
		if strings.HasPrefix(p.Services[n].Image, "nats:") {
			out = append(out, n)
		}
	}
	return out
}

// checkClusterWiring checks what a service of the NATS cluster needs: every
// node in NATS_URL, stream replicas to match, its own NATS user with the
// password the servers were given, health-gated start, and the database only
// where the read model lives.
func checkClusterWiring(p *types.Project, name string, s types.ServiceConfig) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, name+": "+fmt.Sprintf(format, a...)) }
	nodes := natsNodes(p)
	e := env(s)

	var hosts []string
	for _, u := range strings.Split(e["NATS_URL"], ",") {
		pu, err := url.Parse(strings.TrimSpace(u))
		if err != nil || pu.Scheme != "nats" || pu.Port() != "4222" {
			add("NATS_URL entry %q is not nats://<node>:4222", u)
			continue
		}
		hosts = append(hosts, pu.Hostname())
	}
	slices.Sort(hosts)
	if !slices.Equal(hosts, nodes) {
		add("NATS_URL names %v, want every NATS node %v", hosts, nodes)
	}
	if got := e["AWO_STREAM_REPLICAS"]; got != strconv.Itoa(len(nodes)) {
		add("AWO_STREAM_REPLICAS=%q, want %d (one replica per NATS node)", got, len(nodes))
	}
	for _, n := range nodes {
		if d, ok := s.DependsOn[n]; !ok || d.Condition != types.ServiceConditionHealthy {
			add("does not wait for %s to be healthy (depends_on condition service_healthy)", n)
		}
	}

	user, ok := natsUsers[s.Build.Target]
	if !ok {
		add("target %s has no NATS user", s.Build.Target)
		return bad
	}
	if e["NATS_USER"] != user {
		add("NATS_USER=%q, want %q (deploy/nats/awo.conf's user for %s)", e["NATS_USER"], user, s.Build.Target)
	}
	pwVar := "AWO_NATS_" + strings.ToUpper(user) + "_PASSWORD"
	for _, n := range nodes {
		if got := env(p.Services[n])[pwVar]; got == "" || got != e["NATS_PASSWORD"] {
			add("NATS_PASSWORD is not the %s the NATS node %s is given", pwVar, n)
		}
	}

	_, hasDB := e["DATABASE_URL"]
	switch {
	case s.Build.Target != "gateway" && hasDB:
		add("DATABASE_URL is set, but only the gateway reads the read model")
	case s.Build.Target == "gateway":
		if e["STATE_STORAGE_TYPE"] != "postgres" {
			add("STATE_STORAGE_TYPE=%q: gateways that share work must share a postgres read model", e["STATE_STORAGE_TYPE"])
		}
		bad = append(bad, checkDatabaseURL(p, name, s, e["DATABASE_URL"])...)
	}
	return bad
}

// checkDatabaseURL checks that the gateway's DATABASE_URL reaches the
// Compose Postgres with its user, database and password, and waits for it.
func checkDatabaseURL(p *types.Project, name string, s types.ServiceConfig, raw string) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, name+": "+fmt.Sprintf(format, a...)) }
	u, err := url.Parse(raw)
	if err != nil {
		return append(bad, name+": DATABASE_URL does not parse")
	}
	pg, ok := p.Services[u.Hostname()]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") {
		add("DATABASE_URL host %q is not the Postgres service", u.Hostname())
		return bad
	}
	pe := env(pg)
	pw, _ := u.User.Password()
	if u.User.Username() != pe["POSTGRES_USER"] || pw != pe["POSTGRES_PASSWORD"] || strings.TrimPrefix(u.Path, "/") != pe["POSTGRES_DB"] {
		add("DATABASE_URL's user, password or database is not the one %s is created with", u.Hostname())
	}
	if d, ok := s.DependsOn[u.Hostname()]; !ok || d.Condition != types.ServiceConditionHealthy {
		add("does not wait for %s to be healthy", u.Hostname())
	}
	return bad
}

// checkPortsAndVolumes checks one runnable set of services: no host port
// published twice, the API and metrics ports where the health checks and
// Prometheus expect them, named volumes declared, each executor and NATS
// node on a volume of its own, bind mounts that exist.
func checkPortsAndVolumes(dir string, p *types.Project) []string {
	var bad []string
	published := map[string]string{}
	volumeOwner := map[string]string{}
	for _, name := range serviceNames(p) {
		s := p.Services[name]
		for _, port := range s.Ports {
			if port.Published == "" {
				continue
			}
			key := port.Published + "/" + orDefault(port.Protocol, "tcp")
			if other, ok := published[key]; ok {
				bad = append(bad, fmt.Sprintf("%s and %s both publish host port %s", other, name, key))
			}
			published[key] = name
		}
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok {
					bad = append(bad, fmt.Sprintf("%s: volume %s is not declared", name, v.Source))
				}
				if other, ok := volumeOwner[v.Source]; ok && other != name {
					bad = append(bad, fmt.Sprintf("%s and %s share the volume %s", other, name, v.Source))
				}
				volumeOwner[v.Source] = name
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					bad = append(bad, fmt.Sprintf("%s: bind mount %s: %v", name, v.Source, err))
				}
			}
		}
		if isAwo(s) && s.Build != nil {
			bad = append(bad, checkServicePorts(name, s)...)
		}
		if strings.HasPrefix(s.Image, "nats:") && !hasVolumeAt(s, "/data") {
			bad = append(bad, name+": no volume of its own at /data (JetStream's store_dir)")
		}
	}
	return bad
}

// checkServicePorts checks that an executor keeps its sandboxes on a named
// volume and that the gateway publishes its API port and workers listen for
// health checks and metrics.
func checkServicePorts(name string, s types.ServiceConfig) []string {
	var bad []string
	e := env(s)
	switch s.Build.Target {
	case "executor", "all-in-one":
		dirVar := e["AGENT_WORK_ORDER_TEMP_DIR"]
		if dirVar == "" || !hasVolumeAt(s, dirVar) && !hasVolumeAt(s, filepath.Dir(dirVar)) {
			bad = append(bad, fmt.Sprintf("%s: sandboxes (AGENT_WORK_ORDER_TEMP_DIR=%q) are not on a named volume", name, dirVar))
		}
	}
	switch s.Build.Target {
	case "gateway", "all-in-one":
		port := orDefault(e["AGENT_WORK_ORDERS_PORT"], "8053")
		found := false
		for _, p := range s.Ports {
			found = found || strconv.Itoa(int(p.Target)) == port
		}
		if port != "8053" || !found {
			bad = append(bad, fmt.Sprintf("%s: the API port 8053 (AGENT_WORK_ORDERS_PORT=%q) is not published", name, e["AGENT_WORK_ORDERS_PORT"]))
		}
	default:
		if _, port, _ := net.SplitHostPort(e["AWO_METRICS_LISTEN"]); port != "9464" {
			bad = append(bad, fmt.Sprintf("%s: AWO_METRICS_LISTEN=%q, want 0.0.0.0:9464 (health checks and /metrics)", name, e["AWO_METRICS_LISTEN"]))
		}
	}
	return bad
}

func hasVolumeAt(s types.ServiceConfig, target string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == target {
			return true
		}
	}
	return false
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// checkNATSNode lays the node's mounted files out as its container sees
// them, parses the configuration with nats-server's own parser and the
// node's environment, and checks name, JetStream, client port, routes to
// every node, and awo's users with the passwords the services are given.
func checkNATSNode(p *types.Project, name string, scratch string) []string {
	var bad []string
	add := func(format string, a ...any) { bad = append(bad, name+": "+fmt.Sprintf(format, a...)) }
	s := p.Services[name]
	confPath := ""
	for i, arg := range s.Command {
		if (arg == "--config" || arg == "-c") && i+1 < len(s.Command) {
			confPath = s.Command[i+1]
		}
	}
	if confPath == "" {
		add("no --config in its command")
		return bad
	}
	root := filepath.Join(scratch, name)
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		b, err := os.ReadFile(v.Source)
		if err != nil {
			add("%v", err)
			continue
		}
		dst := filepath.Join(root, v.Target)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err == nil {
			err = os.WriteFile(dst, b, 0o644)
		}
		if err != nil {
			add("%v", err)
		}
	}
	e := env(s)
	var opts *server.Options
	var err error
	withEnv(e, func() { opts, err = server.ProcessConfigFile(filepath.Join(root, confPath)) })
	if err != nil {
		add("nats-server refuses its configuration: %v", err)
		return bad
	}
	if opts.ServerName != name {
		add("server_name %q, want the service name", opts.ServerName)
	}
	if !opts.JetStream || opts.StoreDir == "" || !strings.HasPrefix(opts.StoreDir, "/data/") {
		add("JetStream must be on with its store under the /data volume (store_dir %q)", opts.StoreDir)
	}
	if opts.Port != 4222 {
		add("client port %d, want 4222 (NATS_URL)", opts.Port)
	}
	if opts.Cluster.Name == "" || opts.Cluster.Port == 0 {
		add("no cluster name or port")
	}
	var routes []string
	for _, r := range opts.Routes {
		if r.Port() != strconv.Itoa(opts.Cluster.Port) {
			add("route %s is not on the cluster port %d", r, opts.Cluster.Port)
		}
		routes = append(routes, r.Hostname())
	}
	slices.Sort(routes)
	if nodes := natsNodes(p); !slices.Equal(routes, nodes) {
		add("routes name %v, want every NATS node %v", routes, nodes)
	}
	if opts.MaxPayload < 8<<20 {
		add("max_payload %d: awo sends up to 8 MiB", opts.MaxPayload)
	}
	users := map[string]string{}
	for _, u := range opts.Users {
		users[u.Username] = u.Password
	}
	for _, u := range []string{"admin", "gateway", "orchestrator", "executor", "github"} {
		pw, ok := users[u]
		if !ok {
			add("no NATS user %s (deploy/nats/awo.conf)", u)
			continue
		}
		if want := e["AWO_NATS_"+strings.ToUpper(u)+"_PASSWORD"]; pw == "" || pw != want {
			add("user %s's password is not AWO_NATS_%s_PASSWORD", u, strings.ToUpper(u))
		}
	}
	return bad
}

// withEnv runs f with env set in the process environment, which
// nats-server's parser reads for $VARIABLE references, and restores it.
func withEnv(env map[string]string, f func()) {
	old := map[string]*string{}
	for k, v := range env {
		if prev, ok := os.LookupEnv(k); ok {
			old[k] = &prev
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	defer func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}()
	f()
}

// checkPrometheus checks that prometheus.yml scrapes exactly the /metrics
// of every awo service of the file, on the port each serves it on.
func checkPrometheus(dir string, all *types.Project) []string {
	var bad []string
	b, err := os.ReadFile(filepath.Join(dir, "prometheus", "prometheus.yml"))
	if err != nil {
		return []string{err.Error()}
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return []string{"prometheus.yml: " + err.Error()}
	}
	got := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			bad = append(bad, fmt.Sprintf("prometheus job %s scrapes %s, not /metrics", sc.JobName, sc.MetricsPath))
		}
		for _, st := range sc.StaticConfigs {
			for _, t := range st.Targets {
				got[t] = true
			}
		}
	}
	want := map[string]bool{}
	for _, name := range serviceNames(all) {
		s := all.Services[name]
		if !isAwo(s) || s.Build == nil {
			continue
		}
		e := env(s)
		port := orDefault(e["AGENT_WORK_ORDERS_PORT"], "8053")
		if s.Build.Target != "gateway" && s.Build.Target != "all-in-one" {
			_, port, _ = net.SplitHostPort(e["AWO_METRICS_LISTEN"])
		}
		want[name+":"+port] = true
	}
	for t := range want {
		if !got[t] {
			bad = append(bad, "prometheus.yml does not scrape "+t)
		}
	}
	for t := range got {
		if !want[t] {
			bad = append(bad, "prometheus.yml scrapes "+t+", which no service serves")
		}
	}
	slices.Sort(bad)
	return bad
}
