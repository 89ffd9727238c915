package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
)

// Sources is what the real probes look at.
type Sources struct {
	ClaudeCLIPath string // CLAUDE_CLI_PATH
	// ClaudeRootProblem, when not empty, is why the CLI would refuse to run
	// here (config.RootSandboxProblem); the probe reports it.
	ClaudeRootProblem string
	// CodexCLIPath is CODEX_CLI_PATH: when set, codex is a configured
	// agent and is probed (codex_cli) like the Claude CLI.
	CodexCLIPath string
	GitPath      string // "git" unless set
	GHCLIPath    string // GH_CLI_PATH
	GHTokenSet   bool   // GH_TOKEN or GITHUB_TOKEN configured
	// GHToken, when set, is given to `gh auth status` as GH_TOKEN, so the
	// probe checks the token the services use even when it came from a
	// file rather than this process's environment.
	GHToken         string
	ArchonServerURL string // probed only when set
	ArchonMCPURL    string // probed only when set
	NC              *nats.Conn
	JS              jetstream.JetStream
	HTTP            *http.Client // default: a client without its own timeout (the probe's applies)
}

// Probes returns the real probes: the Python service's (claude_cli, git, github_cli,
// archon_server and archon_mcp when configured) plus nats and jetstream.
// The agent CLIs, git and the broker are critical: without them no work
// order can make progress.
func Probes(s Sources) []Probe {
	if s.GitPath == "" {
		s.GitPath = "git"
	}
	if s.HTTP == nil {
		s.HTTP = &http.Client{}
	}
	probes := []Probe{
		{Name: "claude_cli", Critical: true, Check: claudeProbe(s.ClaudeCLIPath, s.ClaudeRootProblem)},
		{Name: "git", Critical: true, Check: versionProbe(s.GitPath, "")},
		{Name: "github_cli", Check: ghProbe(s.GHCLIPath, s.GHToken, s.GHTokenSet || s.GHToken != "")},
		{Name: "nats", OKKey: "connected", Critical: true, Check: natsProbe(s.NC)},
		{Name: "jetstream", Critical: true, Check: jetStreamProbe(s.JS)},
	}
	if s.CodexCLIPath != "" {
		probes = append(probes, Probe{Name: "codex_cli", Critical: true, Check: versionProbe(s.CodexCLIPath, "CODEX_CLI_PATH")})
	}
	if s.ArchonServerURL != "" {
		probes = append(probes, Probe{Name: "archon_server", Check: httpProbe(s.HTTP, s.ArchonServerURL)})
	}
	if s.ArchonMCPURL != "" {
		probes = append(probes, Probe{Name: "archon_mcp", Check: httpProbe(s.HTTP, s.ArchonMCPURL)})
	}
	return probes
}

// versionProbe runs `<path> --version`; the first line of its output is the
// version.
func versionProbe(path, envName string) func(context.Context) Result {
	return func(ctx context.Context) Result {
		out, err := run(ctx, path, "--version")
		if err != nil {
			return Result{Fields: map[string]any{"version": nil, "error": describe(path, envName, err)}}
		}
		version, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
		return Result{OK: true, Fields: map[string]any{"version": version}}
	}
}

// claudeProbe is versionProbe plus the one way a present CLI still cannot
// run agent steps: as root without IS_SANDBOX=1.
func claudeProbe(path, rootProblem string) func(context.Context) Result {
	version := versionProbe(path, "CLAUDE_CLI_PATH")
	return func(ctx context.Context) Result {
		r := version(ctx)
		if r.OK && rootProblem != "" {
			r.OK = false
			r.Fields["error"] = rootProblem
		}
		return r
	}
}

// ghProbe reports gh as available when the binary is found, its version,
// and whether it is authenticated (`gh auth status` succeeds), as the
// Python service. gh is not critical: only create-pr and fetch-issue need
// it.
func ghProbe(path, token string, tokenSet bool) func(context.Context) Result {
	var env []string
	if token != "" {
		env = append(os.Environ(), "GH_TOKEN="+token, "GH_PROMPT_DISABLED=1")
	}
	return func(ctx context.Context) Result {
		fields := map[string]any{"version": nil, "authenticated": false, "token_configured": tokenSet}
		if _, err := exec.LookPath(path); err != nil {
			fields["error"] = describe(path, "GH_CLI_PATH", err)
			return Result{Fields: fields}
		}
		if out, err := runEnv(ctx, env, path, "--version"); err == nil {
			fields["version"] = firstLine(out)
		}
		// `gh auth status` asks GitHub; leave time to report what is known
		// should it be slow, rather than lose the whole entry to the
		// probe's timeout.
		actx, cancel := shorter(ctx)
		defer cancel()
		if _, err := runEnv(actx, env, path, "auth", "status"); err != nil {
			fields["error"] = describe(path, "GH_CLI_PATH", err)
		} else {
			fields["authenticated"] = true
		}
		return Result{OK: true, Fields: fields}
	}
}

// shorter is ctx with a fifth of its remaining time taken off.
func shorter(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline.Add(-time.Until(deadline)/5))
}

func natsProbe(nc *nats.Conn) func(context.Context) Result {
	return func(ctx context.Context) Result {
		if nc == nil {
			return Result{Fields: map[string]any{"error": "no NATS connection configured"}}
		}
		fields := map[string]any{"status": nc.Status().String()}
		// An in-process connection (the all-in-one's embedded server) runs
		// over a pipe; its URL would be the client's default, not a real
		// address.
		if nc.ConnectedAddr() == "pipe" {
			fields["url"] = "in-process"
		} else if url := nc.ConnectedUrlRedacted(); url != "" {
			fields["url"] = url
		}
		if name := nc.ConnectedServerName(); name != "" {
			fields["server_name"] = name
		}
		if !nc.IsConnected() {
			return Result{Fields: fields}
		}
		// A round trip proves the connection carries traffic, not just
		// that the client believes it is up.
		start := time.Now()
		if err := nc.FlushWithContext(ctx); err != nil {
			fields["error"] = fmt.Sprintf("round trip to the server failed: %v", err)
			return Result{Fields: fields}
		}
		fields["rtt_ms"] = float64(time.Since(start).Microseconds()) / 1000
		return Result{OK: true, Fields: fields}
	}
}

// StreamState is what /health shows for each stream.
type StreamState struct {
	Messages  uint64 `json:"messages"`
	Bytes     uint64 `json:"bytes"`
	Consumers int    `json:"consumers"`
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
}

func jetStreamProbe(js jetstream.JetStream) func(context.Context) Result {
	names := []string{bus.StreamEvents, bus.StreamCommands, bus.StreamLogs, bus.StreamDLQ, bus.StreamCheckpoints, bus.StreamTimers}
	return func(ctx context.Context) Result {
		if js == nil {
			return Result{Fields: map[string]any{"error": "no JetStream context configured"}}
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return Result{Fields: map[string]any{"error": fmt.Sprintf("JetStream not reachable: %v", err)}}
		}
		streams := make(map[string]StreamState, len(names))
		var missing []string
		for _, name := range names {
			st, err := js.Stream(ctx, name)
			if err != nil {
				missing = append(missing, fmt.Sprintf("%s (%v)", name, err))
				continue
			}
			s := st.CachedInfo().State
			streams[name] = StreamState{Messages: s.Msgs, Bytes: s.Bytes, Consumers: s.Consumers, FirstSeq: s.FirstSeq, LastSeq: s.LastSeq}
		}
		fields := map[string]any{"streams": streams}
		if len(missing) > 0 {
			fields["error"] = "streams unavailable: " + strings.Join(missing, ", ")
			return Result{Fields: fields}
		}
		return Result{OK: true, Fields: fields}
	}
}

// httpProbe expects 200 from <base>/health, as the Python service.
func httpProbe(client *http.Client, base string) func(context.Context) Result {
	return func(ctx context.Context) Result {
		fields := map[string]any{"url": base}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/health", nil)
		if err != nil {
			fields["error"] = err.Error()
			return Result{Fields: fields}
		}
		resp, err := client.Do(req)
		if err != nil {
			fields["error"] = err.Error()
			return Result{Fields: fields}
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fields["error"] = fmt.Sprintf("GET /health answered %s", resp.Status)
			return Result{Fields: fields}
		}
		return Result{OK: true, Fields: fields}
	}
}

// run executes a CLI with an argument list (never a shell) and returns its
// standard output.
func run(ctx context.Context, path string, args ...string) (string, error) {
	return runEnv(ctx, nil, path, args...)
}

// runEnv is run with env as the CLI's environment (nil: this process's).
func runEnv(ctx context.Context, env []string, path string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A CLI that leaves a child holding its pipes open must not keep the
	// probe waiting past its deadline.
	cmd.WaitDelay = 500 * time.Millisecond
	if err := cmd.Run(); err != nil {
		if msg := firstLine(stderr.String()); msg != "" {
			return "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", err
	}
	return stdout.String(), nil
}

// describe words a CLI failure for an operator reading /health.
func describe(path, envName string, err error) string {
	if errors.Is(err, exec.ErrNotFound) {
		if envName != "" {
			return fmt.Sprintf("%s not found (set %s)", path, envName)
		}
		return fmt.Sprintf("%s not found on PATH", path)
	}
	return fmt.Sprintf("%s: %v", path, err)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
