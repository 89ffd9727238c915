package images

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

// root is the repository, two levels up from this package.
var root = filepath.Join("..", "..")

// The image conventions every helper and chart relies on (see
// docs/operations.md#images).
const (
	binDir      = "/usr/local/bin/"
	uid         = "10001"
	gatewayPort = "8053"
	workerPort  = "9464"
	dataDir     = "/var/lib/awo"
	sandboxDir  = "/var/lib/awo/sandboxes"
)

// agentCLI is one agent CLI the agent images install from npm, pinned by a
// Makefile variable passed as a build arg.
type agentCLI struct {
	name, pkg, versionVar, pathVar, path string
}

// agentCLIs are every agent CLI the executor and all-in-one images carry.
var agentCLIs = []agentCLI{
	{"Claude Code", "@anthropic-ai/claude-code", "CLAUDE_VERSION", "CLAUDE_CLI_PATH", "/usr/local/bin/claude"},
	{"Codex", "@openai/codex", "CODEX_VERSION", "CODEX_CLI_PATH", "/usr/local/bin/codex"},
}

// npm is the install command of the CLI, at the pinned version's build arg.
func (c agentCLI) npm() string {
	return "npm install -g --no-audit --no-fund " + c.pkg + "@${" + c.versionVar + "}"
}

// image is what a binary's target must look like.
type image struct {
	target string
	ports  []string
	agent  bool // git, gh and the agent CLIs (Claude Code, Codex)
	gh     bool // git and gh
	data   bool // AWO_DATA_DIR and the sandbox volume
}

// imageOf derives a binary's target from its name: awo is the all-in-one,
// awo-<service> the service.
func imageOf(binary string) image {
	switch binary {
	case "awo":
		return image{target: "all-in-one", ports: []string{gatewayPort, workerPort}, agent: true, gh: true, data: true}
	case "awo-gateway":
		return image{target: "gateway", ports: []string{gatewayPort}}
	case "awo-executor":
		return image{target: "executor", ports: []string{workerPort}, agent: true, gh: true, data: true}
	case "awo-github":
		return image{target: "github", ports: []string{workerPort}, gh: true, data: true}
	}
	return image{target: strings.TrimPrefix(binary, "awo-"), ports: []string{workerPort}}
}

func parse(t *testing.T) (*Dockerfile, *Makefile) {
	t.Helper()
	d, err := ParseDockerfile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMakefile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	// The version the images are stamped with is the VERSION build-arg,
	// where the Makefile asks git.
	m.Vars["VERSION"] = "${VERSION}"
	return d, m
}

// builds are the go builds of `make build`.
func builds(t *testing.T, m *Makefile) []GoBuild {
	t.Helper()
	b := GoBuilds(m.Expand(strings.Join(m.Recipes["build"], "\n")))
	if len(b) < 5 {
		t.Fatalf("the Makefile's build recipe has %d go builds, want the five binaries: %q", len(b), m.Recipes["build"])
	}
	return b
}

// builderOf is the stage that runs the go builds.
func builderOf(t *testing.T, d *Dockerfile) *Stage {
	t.Helper()
	for _, s := range d.Stages {
		for _, in := range s.Instr {
			if in.Cmd == "RUN" && len(GoBuilds(in.Args)) > 0 {
				return s
			}
		}
	}
	t.Fatal("no stage of the Dockerfile runs go build")
	return nil
}

// The builder runs the commands `make build` runs, each one for one
// binary: the same directory, package and output name, static
// (CGO_ENABLED=0), -trimpath, and stamped with the Makefile's LDFLAGS.
func TestDockerfile_BuilderRunsMakeBuild(t *testing.T) {
	d, m := parse(t)
	want := builds(t, m)
	b := builderOf(t, d)
	e, err := d.Effective(b)
	if err != nil {
		t.Fatal(err)
	}
	if e.Env["CGO_ENABLED"] != "0" {
		t.Errorf("builder %s: ENV CGO_ENABLED=%q, want 0 (static binaries for the distroless images)", b.Name, e.Env["CGO_ENABLED"])
	}
	runs := strings.Join(e.Runs, "\n")
	got := GoBuilds(runs)
	stamp := m.Expand(m.Vars["LDFLAGS"])
	if !strings.Contains(runs, stamp) {
		t.Errorf("the builder never stamps the version as the Makefile does: want %q in its RUN", stamp)
	}
	if !slices.ContainsFunc(b.Instr, func(in Instruction) bool { return in.Cmd == "ARG" && strings.HasPrefix(in.Args, "VERSION") }) {
		t.Errorf("the builder has no ARG VERSION")
	}
	for _, w := range want {
		i := slices.IndexFunc(got, func(g GoBuild) bool { return g.Dir == w.Dir && g.Output == w.Output && g.Package == w.Package })
		if i < 0 {
			t.Errorf("make build runs `cd %s && go build -o %s %s`; the builder does not", w.Dir, w.Output, w.Package)
			continue
		}
		if !strings.Contains(got[i].Flags, "-trimpath") || !strings.Contains(got[i].Flags, "-ldflags") {
			t.Errorf("the builder builds %s with %q, want -trimpath and -ldflags", w.Output, got[i].Flags)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the builder runs %d go builds, make build %d: %+v", len(got), len(want), got)
	}
}

// Every binary `make build` builds has its target, entered through it,
// health-checked with its -healthcheck, as uid 10001, exposing its ports.
func TestDockerfile_ATargetPerBinary(t *testing.T) {
	d, m := parse(t)
	builder := builderOf(t, d)
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v] = true
	}
	var targets []string
	for _, b := range builds(t, m) {
		img := imageOf(b.Output)
		targets = append(targets, img.target)
		t.Run(img.target, func(t *testing.T) {
			s := d.Stage(img.target)
			if s == nil {
				t.Fatalf("no target %q for %s", img.target, b.Output)
			}
			e, err := d.Effective(s)
			if err != nil {
				t.Fatal(err)
			}
			bin := binDir + b.Output
			if !slices.Equal(e.Entrypoint, []string{bin}) {
				t.Errorf("ENTRYPOINT %q, want [%q]", e.Entrypoint, bin)
			}
			if !slices.Equal(e.Healthcheck, []string{bin, "-healthcheck"}) {
				t.Errorf("HEALTHCHECK CMD %q, want [%q, \"-healthcheck\"]", e.Healthcheck, bin)
			}
			copied := fmt.Sprintf("--from=%s /out/%s %s", builder.Name, b.Output, bin)
			if !slices.Contains(e.Copies, copied) {
				t.Errorf("no COPY %s (copies: %q)", copied, e.Copies)
			}
			if user, _, _ := strings.Cut(e.User, ":"); user != uid {
				t.Errorf("USER %q, want %s (non-root, the same uid in every image)", e.User, uid)
			}
			var exposed []string
			for p := range e.Expose {
				exposed = append(exposed, p)
			}
			sort.Strings(exposed)
			if !slices.Equal(exposed, img.ports) {
				t.Errorf("EXPOSE %v, want %v", exposed, img.ports)
			}
			checkEnv(t, img, e, known)
			checkTools(t, d, img, s, e)
		})
	}
	for _, s := range d.Stages {
		if s.Name == "" {
			t.Errorf("line %d: an unnamed stage", s.Line)
		}
	}
	checkImagesRecipe(t, m, targets)
}

// checkEnv: the ports the processes listen on are the exposed ones, the
// data and CLI paths are the contract's, every variable is one the
// configuration reads, and the configuration loads with them.
func checkEnv(t *testing.T, img image, e Effective, known map[string]bool) {
	t.Helper()
	for k := range e.Env {
		if !known[k] && k != "HOME" {
			t.Errorf("ENV %s: not a variable the configuration reads", k)
		}
	}
	if slices.Contains(img.ports, gatewayPort) && e.Env["AGENT_WORK_ORDERS_PORT"] != gatewayPort {
		t.Errorf("AGENT_WORK_ORDERS_PORT=%q, want %s", e.Env["AGENT_WORK_ORDERS_PORT"], gatewayPort)
	}
	if slices.Contains(img.ports, workerPort) {
		if _, port, _ := net.SplitHostPort(e.Env["AWO_METRICS_LISTEN"]); port != workerPort {
			t.Errorf("AWO_METRICS_LISTEN=%q, want one on port %s (what -healthcheck probes)", e.Env["AWO_METRICS_LISTEN"], workerPort)
		}
	}
	if img.data {
		if e.Env["AWO_DATA_DIR"] != dataDir || e.Env["AGENT_WORK_ORDER_TEMP_DIR"] != sandboxDir {
			t.Errorf("AWO_DATA_DIR=%q AGENT_WORK_ORDER_TEMP_DIR=%q, want %s and %s", e.Env["AWO_DATA_DIR"], e.Env["AGENT_WORK_ORDER_TEMP_DIR"], dataDir, sandboxDir)
		}
		if !e.Volumes[sandboxDir] && !e.Volumes[dataDir] {
			t.Errorf("VOLUME %v: the sandboxes (%s) are not on a volume", e.Volumes, sandboxDir)
		}
	}
	for _, cli := range agentCLIs {
		if img.agent && e.Env[cli.pathVar] != cli.path {
			t.Errorf("%s=%q, want %s", cli.pathVar, e.Env[cli.pathVar], cli.path)
		}
	}
	env := map[string]string{}
	for k, v := range e.Env {
		env[k] = v
	}
	// A gateway listening beyond loopback needs tokens: the operator's.
	env["AWO_API_TOKENS"] = "a-token-of-at-least-sixteen-characters"
	if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
		t.Errorf("the configuration refuses the image's ENV: %v", err)
	}
}

var aptInstall = regexp.MustCompile(`apt-get install [^&;]*`)

// checkTools: git and gh from the package manager where the service runs
// them, and the pinned Claude Code CLI where the agent runs.
func checkTools(t *testing.T, d *Dockerfile, img image, s *Stage, e Effective) {
	t.Helper()
	var pkgs []string
	for _, r := range e.Runs {
		for _, m := range aptInstall.FindAllString(r, -1) {
			pkgs = append(pkgs, strings.Fields(m)...)
		}
	}
	for _, tool := range []string{"git", "gh"} {
		if has := slices.Contains(pkgs, tool); has != img.gh {
			t.Errorf("%s installed: %v, want %v", tool, has, img.gh)
		}
	}
	for _, cli := range agentCLIs {
		checkAgentCLI(t, d, img, s, e, cli)
	}
}

// checkAgentCLI: the pinned CLI is installed where the agent runs, and
// only there, by a stage that declares the version's build arg.
func checkAgentCLI(t *testing.T, d *Dockerfile, img image, s *Stage, e Effective, cli agentCLI) {
	t.Helper()
	npm := cli.npm()
	has := slices.ContainsFunc(e.Runs, func(r string) bool { return strings.Contains(r, npm) })
	if has != img.agent {
		t.Errorf("the %s CLI installed (%s): %v, want %v", cli.name, npm, has, img.agent)
	}
	if !img.agent {
		return
	}
	// A global ARG is seen inside a stage only when the stage declares it.
	for _, st := range d.Chain(s) {
		for _, in := range st.Instr {
			if in.Cmd == "RUN" && strings.Contains(in.Args, npm) &&
				!slices.ContainsFunc(st.Instr, func(a Instruction) bool { return a.Cmd == "ARG" && a.Args == cli.versionVar }) {
				t.Errorf("stage %s installs the %s CLI without `ARG %s`: the version would be empty", st.Name, cli.name, cli.versionVar)
			}
		}
	}
}

// checkImagesRecipe: `make images` builds every target under its name.
func checkImagesRecipe(t *testing.T, m *Makefile, targets []string) {
	t.Helper()
	recipe := m.Expand(strings.Join(m.Recipes["images"], "\n"))
	if m.Vars["IMAGE_REPO"] != "ghcr.io/agentworkorders" {
		t.Errorf("IMAGE_REPO defaults to %q, want ghcr.io/agentworkorders", m.Vars["IMAGE_REPO"])
	}
	for _, target := range targets {
		name := "awo-" + target
		if target == "all-in-one" {
			name = "awo"
		}
		want := fmt.Sprintf("--target %s -t %s/%s:%s .", target, m.Vars["IMAGE_REPO"], name, m.Vars["VERSION"])
		if !strings.Contains(recipe, want) {
			t.Errorf("make images does not build %q", want)
		}
	}
	for _, cli := range agentCLIs {
		if !strings.Contains(recipe, "--build-arg "+cli.versionVar+"="+m.Vars[cli.versionVar]) {
			t.Errorf("make images does not pass %s: %s", cli.versionVar, recipe)
		}
	}
}

// The CLIs the images install are the ones the tests run: the Dockerfile's
// CLAUDE_VERSION and CODEX_VERSION defaults are the Makefile's.
func TestDockerfile_ClaudeVersion(t *testing.T) {
	d, m := parse(t)
	for _, cli := range agentCLIs {
		if got, want := d.GlobalArgs[cli.versionVar], m.Vars[cli.versionVar]; got != want || want == "" {
			t.Errorf("ARG %s=%q, the Makefile's %s=%q", cli.versionVar, got, cli.versionVar, want)
		}
	}
}

var pinned = regexp.MustCompile(`^[a-z0-9./-]+(?::[A-Za-z0-9._-]+)?(?:@sha256:[a-f0-9]{64})?$`)

// Every base image is pinned by a tag or a digest, never latest, and
// every stage named is one the file defines or an image.
func TestDockerfile_BaseImagesPinned(t *testing.T) {
	d, _ := parse(t)
	for _, s := range d.Stages {
		if d.Stage(s.Base) != nil {
			continue
		}
		name, tag, hasTag := strings.Cut(strings.SplitN(s.Base, "@", 2)[0], ":")
		digest := strings.Contains(s.Base, "@sha256:")
		switch {
		case !pinned.MatchString(s.Base) || strings.Contains(s.Base, "$"):
			t.Errorf("line %d: FROM %s: not a literal image reference", s.Line, s.Base)
		case !hasTag && !digest, tag == "latest":
			t.Errorf("line %d: FROM %s: pin %s by a version tag or a digest", s.Line, s.Base, name)
		}
	}
}
