// Package proctest runs a binary of this repository as a process, as an
// image runs it, for the tests of its command line (-healthcheck).
package proctest

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Build compiles the main package in dir (relative to the test's
// directory, e.g. ".") into a temporary binary named name.
func Build(t testing.TB, dir, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// FreeAddr is a loopback host:port nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Env is this process's environment with vars ("K=V") after it, which
// win over the inherited ones.
func Env(vars ...string) []string { return append(os.Environ(), vars...) }

// Process is a started binary; its standard error is kept for the test's
// log when the test fails.
type Process struct {
	cmd  *exec.Cmd
	logs bytes.Buffer
}

// Start runs bin with env until Kill or the end of the test.
func Start(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(bin, args...)}
	p.cmd.Env = env
	p.cmd.Stderr = &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s's log:\n%s", filepath.Base(bin), p.logs.String())
		}
	})
	return p
}

// Kill ends the process and waits for it.
func (p *Process) Kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// Run runs bin with args and env to its end and returns its exit code and
// standard error.
func Run(t testing.TB, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return 0, stderr.String()
}

// RunUntil runs bin with args until it exits with want (within timeout)
// and returns its standard error then.
func RunUntil(t testing.TB, timeout time.Duration, want int, bin string, env []string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, stderr := Run(t, bin, env, args...)
		if code == want {
			return stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for `%s %v` to exit %d: it exits %d: %s", timeout, filepath.Base(bin), args, want, code, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CheckNotReadyThenDead is the end of every binary's -healthcheck test:
// after stopNATS, -healthcheck exits 1 naming NATS (and saying 503 when
// want503: the process still answers, not ready); after proc is killed,
// it exits 1 saying the process is not answering.
func CheckNotReadyThenDead(t testing.TB, proc *Process, stopNATS func(), want503 bool, bin string, env []string) {
	t.Helper()
	stopNATS()
	stderr := RunUntil(t, 15*time.Second, 1, bin, env, "-healthcheck")
	if !strings.Contains(stderr, "nats: ") || want503 && !strings.Contains(stderr, "503") {
		t.Errorf("-healthcheck with NATS down said %q", stderr)
	}
	proc.Kill()
	if code, stderr := Run(t, bin, env, "-healthcheck"); code != 1 || !strings.Contains(stderr, "not answering") {
		t.Errorf("-healthcheck of a dead process: %d %q", code, stderr)
	}
}
