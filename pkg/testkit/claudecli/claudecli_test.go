package claudecli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fatalRecorder stands in for a test so that a Fatalf can be observed.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.msg = fmt.Sprintf(format, args...) }
func (r *fatalRecorder) Helper()                           {}

func TestPath_Override(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "claude")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvOverride, bin)
	if got := Path(t); got != bin {
		t.Errorf("Path = %q, want %q", got, bin)
	}
}

func TestPath_FailsWithInstallHint(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "claude")
	if err := os.WriteFile(notExec, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, override := range map[string]string{
		"missing":        filepath.Join(dir, "nope"),
		"not executable": notExec,
		"a directory":    dir,
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(EnvOverride, override)
			rec := &fatalRecorder{TB: t}
			Path(rec)
			if !strings.Contains(rec.msg, "make tools") || !strings.Contains(rec.msg, EnvOverride) {
				t.Errorf("Fatalf message = %q, want the install hint and the variable", rec.msg)
			}
		})
	}
}

// Without the override the pinned install in the workspace is used; the
// other testkit users rely on it being there.
func TestPath_DefaultIsTheWorkspaceInstall(t *testing.T) {
	t.Setenv(EnvOverride, "")
	root, err := WorkspaceRoot()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Path(t), filepath.Join(root, ".tools", "node_modules", ".bin", "claude"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}

func TestEnv(t *testing.T) {
	env := map[string]string{}
	for _, kv := range Env("http://127.0.0.1:1234") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{
		"ANTHROPIC_BASE_URL":                       "http://127.0.0.1:1234",
		"ANTHROPIC_API_KEY":                        "sk-test",
		"IS_SANDBOX":                               "1",
		"DISABLE_TELEMETRY":                        "1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	home, _ := os.UserHomeDir()
	if dir := env["CLAUDE_CONFIG_DIR"]; dir == "" || (home != "" && strings.HasPrefix(dir, filepath.Join(home, ".claude"))) {
		t.Errorf("CLAUDE_CONFIG_DIR = %q, want a directory away from ~/.claude", dir)
	}
}
