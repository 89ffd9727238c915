package sandbox

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name, stderr, want string
	}{
		{"empty", "", ""},
		{"plain text kept", "something odd\n", "something odd"},
		{
			"missing local repository",
			"fatal: '/x/missing' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n",
			"'/x/missing' does not appear to be a git repository; Could not read from remote repository.",
		},
		{
			"GitHub repository not found",
			"remote: Repository not found.\nfatal: repository 'https://github.com/acme/nope/' not found\n",
			"Repository not found.; repository 'https://github.com/acme/nope/' not found",
		},
		{
			"rejected push without hints",
			"To file:///o\n ! [rejected]        HEAD -> feat/x (fetch first)\nerror: failed to push some refs to 'file:///o'\nhint: Updates were rejected because the remote contains work that you do\nhint: not have locally.\n",
			"[rejected] HEAD -> feat/x (fetch first); failed to push some refs to 'file:///o'",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.stderr); got != tt.want {
				t.Errorf("summarize = %q\nwant        %q", got, tt.want)
			}
		})
	}
}

func TestSummarize_CutsLongOutput(t *testing.T) {
	got := summarize("fatal: " + strings.Repeat("é", 1000))
	if len(got) > maxErrorLen+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("len %d: %q", len(got), got)
	}
	if !strings.HasPrefix(got, "é") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("cut inside a character: %q", got[len(got)-8:])
	}
}

func TestGitEnv_NeverPromptsAndIgnoresRepositoryOverrides(t *testing.T) {
	t.Setenv("GIT_DIR", "/elsewhere/.git")
	t.Setenv("GIT_WORK_TREE", "/elsewhere")
	m := &Manager{Env: []string{"GIT_TERMINAL_PROMPT=1", "GIT_CONFIG_GLOBAL=/cfg"}}
	env := m.gitEnv()

	if env[len(env)-1] != "GIT_TERMINAL_PROMPT=0" {
		t.Errorf("GIT_TERMINAL_PROMPT=0 must come last to win, got %q", env[len(env)-1])
	}
	if !slices.Contains(env, "GIT_CONFIG_GLOBAL=/cfg") {
		t.Error("Manager.Env not passed on")
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GIT_DIR=") || strings.HasPrefix(kv, "GIT_WORK_TREE=") {
			t.Errorf("%s leaked into git's environment", kv)
		}
	}
}

func TestGitEnv_SSHBatchModeUnlessConfigured(t *testing.T) {
	for _, name := range []string{"GIT_SSH_COMMAND", "GIT_SSH"} {
		t.Setenv(name, "") // restores the variable after the test
		os.Unsetenv(name)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	if env := (&Manager{}).gitEnv(); !slices.Contains(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes -o ConnectTimeout=30") {
		t.Errorf("ssh may prompt or wait for ever: no BatchMode or ConnectTimeout in %q", env)
	}
	env := (&Manager{Env: []string{"GIT_SSH_COMMAND=ssh -i /key"}}).gitEnv()
	if !slices.Contains(env, "GIT_SSH_COMMAND=ssh -i /key") || slices.Contains(env, "GIT_SSH_COMMAND=ssh -o BatchMode=yes -o ConnectTimeout=30") {
		t.Error("the operator's GIT_SSH_COMMAND was overridden")
	}
	// GIT_SSH alone would lose to a repository's core.sshCommand; it is
	// passed on as GIT_SSH_COMMAND, which does not.
	env = (&Manager{Env: []string{"GIT_SSH=/opt/my ssh"}}).gitEnv()
	if !slices.Contains(env, "GIT_SSH_COMMAND='/opt/my ssh'") {
		t.Errorf("GIT_SSH not turned into GIT_SSH_COMMAND: %q", env)
	}
}
