package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
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

func TestClassify_NamesTheFailureNotTheNetwork(t *testing.T) {
	exit := exec.Command("false").Run()
	tests := []struct{ stderr, want string }{
		{"fatal: unable to access 'https://10.0.0.5:8080/a/b/': Failed to connect to 10.0.0.5 port 8080 after 3 ms: Connection refused\n", "could not connect"},
		{"fatal: unable to access 'https://h/a/b/': Failed to connect to h port 443 after 130000 ms: Connection timed out\n", "could not connect"},
		{"fatal: unable to access 'https://h/a/b/': Could not resolve host: internal.corp\n", "could not connect"},
		{"fatal: unable to access 'https://h/': SSL certificate problem: self-signed certificate\n", "could not connect"},
		{"fatal: unable to access 'https://h/': Received HTTP code 502 from proxy after CONNECT\n", "could not connect"},
		{"ssh: connect to host 10.0.0.5 port 22: Connection refused\r\nfatal: Could not read from remote repository.\n", "could not connect"},
		{"kex_exchange_identification: banner line contains invalid characters\r\nbanner exchange: Connection to 10.0.0.5 port 6379: invalid format\n", "could not connect"},
		{"fatal: unable to access 'https://h/': Operation too slow. Less than 1000 bytes/sec transferred the last 60 seconds\n", "timed out"},
		{"remote: Repository not found.\nfatal: repository 'https://github.com/acme/nope/' not found\n", "repository not found"},
		{"fatal: '/x/missing' does not appear to be a git repository\n", "repository not found"},
		{"fatal: could not read Username for 'https://github.com': terminal prompts disabled\n", "authentication failed"},
		{"git@github.com: Permission denied (publickey).\r\nfatal: Could not read from remote repository.\n", "authentication failed"},
		{"remote: HTTP Basic: Access denied\nfatal: Authentication failed for 'https://gitlab.com/a/b.git/'\n", "authentication failed"},
		{"To file:///o\n ! [rejected]        HEAD -> feat/x (fetch first)\nerror: failed to push some refs to 'file:///o'\n", "rejected"},
		{" ! [remote rejected] HEAD -> main (protected branch hook declined)\n", "rejected"},
	}
	for _, tt := range tests {
		got := classify("clone", tt.stderr, exit)
		if !strings.HasPrefix(got, "git clone failed: ") || !strings.Contains(got, tt.want) {
			t.Errorf("classify(%q) = %q, want %q", tt.stderr, got, tt.want)
		}
		// Nothing the network or the server said survives: no address,
		// port, host name, banner or reason.
		for _, leak := range []string{"10.0.0.5", "8080", "6379", "refused", "Connection", "internal.corp", "banner", "SSL", "502", "protected", "github.com", "/x/missing"} {
			if strings.Contains(got, leak) {
				t.Errorf("classify(%q) = %q echoes %q", tt.stderr, got, leak)
			}
		}
	}
}

func TestMaskURLs(t *testing.T) {
	got := maskURLs("fatal: unable to access 'https://user:hunter2@h/a/b/': nope; also u:hunter2@host:a/b and ssh://git@h/x")
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "ssh://git@h/x") {
		t.Errorf("maskURLs = %q", got)
	}
}

// The repository's credential helpers (plain or URL-scoped) are dropped,
// the operator's own come back: git credential fill asks only the
// operator's.
func TestHardening_CredentialHelpersAreTheOperatorsOnly(t *testing.T) {
	tmp := t.TempDir()
	global := filepath.Join(tmp, "gitconfig")
	marker := filepath.Join(tmp, "planted-helper-ran")
	for _, kv := range [][2]string{
		{"credential.helper", "!f() { echo username=operator; echo password=operator-secret; }; f"},
		{"credential.https://other.example.helper", "!f() { echo password=scoped; }; f"},
	} {
		if out, err := exec.Command("git", "config", "--file", global, "--add", kv[0], kv[1]).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	repo := filepath.Join(tmp, "repo")
	env := append(os.Environ(), "GIT_CONFIG_GLOBAL="+global, "GIT_CONFIG_NOSYSTEM=1")
	for _, args := range [][]string{
		{"init", "--quiet", repo},
		{"-C", repo, "config", "credential.helper", "!touch " + marker + "; echo password=planted #"},
		{"-C", repo, "config", "credential.https://example.com.helper", "!touch " + marker + "; echo password=planted #"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	m := &Manager{Env: []string{"GIT_CONFIG_GLOBAL=" + global, "GIT_CONFIG_NOSYSTEM=1"}}
	cmd := exec.Command("git", append(m.hardening(t.Context(), repo, []string{"credential"}, true), "credential", "fill")...)
	cmd.Dir, cmd.Env = repo, m.gitEnv()
	cmd.Stdin = strings.NewReader("protocol=https\nhost=example.com\n\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("credential fill: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "password=operator-secret") || strings.Contains(string(out), "planted") {
		t.Errorf("credential fill gave %q, want the operator's helper's answer only", out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the repository's credential helper ran")
	}
}
