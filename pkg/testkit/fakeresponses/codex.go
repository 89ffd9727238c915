package fakeresponses

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PinnedVersion is the Codex CLI version the project is tested against
// (Makefile CODEX_VERSION).
const PinnedVersion = "0.171.0"

// EnvOverride names the variable that points tests at another codex binary.
const EnvOverride = "AWO_TEST_CODEX"

// Model is the model name tests give codex. Codex offers its plain
// function tools (exec_command) to a model it has no preset for; for its
// default model (0.171.0) it offers only a JavaScript "exec" tool.
const Model = "awo-fake-model"

// APIKey is the key the config Home writes makes codex send.
const APIKey = "sk-fake-responses"

const installHint = "run `make tools` (npm install --prefix .tools @openai/codex@" + PinnedVersion + ")"

// CodexPath returns the codex binary tests should run: $AWO_TEST_CODEX when
// set, else the copy under <workspace root>/.tools. It fails the test when
// neither exists: a skipped integration test would look like a passing one.
func CodexPath(t testing.TB) string {
	t.Helper()
	p, err := findCodex()
	if err != nil {
		t.Fatalf("codex CLI for tests: %v; %s", err, installHint)
	}
	return p
}

func findCodex() (string, error) {
	if p := os.Getenv(EnvOverride); p != "" {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return "", fmt.Errorf("%s=%s: not an executable file", EnvOverride, p)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			p := filepath.Join(dir, ".tools", "node_modules", ".bin", "codex")
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work found above the working directory")
		}
		dir = parent
	}
}

// ConfigTOML is a codex config.toml that sends every model call to the
// server: a provider "awo-fake" at URL with the Responses wire API, no
// WebSocket (codex tries one first and falls back), no retries (a scripted
// error fails the run at once) and no analytics.
func (s *Server) ConfigTOML() string {
	return strings.Join([]string{
		`model = "` + Model + `"`,
		`model_provider = "awo-fake"`,
		`[analytics]`,
		`enabled = false`,
		`[model_providers.awo-fake]`,
		`name = "awo fake"`,
		`base_url = "` + s.URL + `"`,
		`env_key = "OPENAI_API_KEY"`,
		`wire_api = "responses"`,
		`supports_websockets = false`,
		`request_max_retries = 0`,
		`stream_max_retries = 0`,
		``,
	}, "\n")
}

// Home makes a CODEX_HOME for the test holding ConfigTOML and returns its
// path. Codex keeps its sessions there (sessions/YYYY/MM/DD/rollout-*.jsonl),
// so a resume finds them only with the same home. Under /tmp codex
// 0.171.0 prints a harmless warning on stderr (it puts no helper links in
// a temporary directory).
func (s *Server) Home(t testing.TB) string {
	t.Helper()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(s.ConfigTOML()), 0o600); err != nil {
		t.Fatalf("writing codex config.toml: %v", err)
	}
	return home
}

// Env is the environment that makes codex use the server: a CODEX_HOME
// from Home, the API key and an empty HOME (ShellHome).
func (s *Server) Env(t testing.TB) []string {
	t.Helper()
	return []string{"CODEX_HOME=" + s.Home(t), "OPENAI_API_KEY=" + APIKey, ShellHome(t)}
}

// ShellHome is HOME=<an empty directory>, for the codex a test runs. Codex
// runs its shell commands, and a snapshot of the shell at start, in a login
// shell, which sources the machine's profile: on a machine whose ~/.bashrc
// runs `pyenv init`, a rehash lock left behind by an agent killed mid-call
// made every such shell wait for it, and the scripted commands timed out
// (claudecli.Env gives the Claude CLI an empty HOME for the same reason).
func ShellHome(t testing.TB) string {
	t.Helper()
	return "HOME=" + t.TempDir()
}
