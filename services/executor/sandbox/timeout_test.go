package sandbox_test

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
	"github.com/agentworkorders/awo/services/executor/sandbox"
)

// silentServer accepts connections and never answers, like a firewall
// that lets the handshake through or a hung server.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// processesNaming lists live processes whose command line holds s.
func processesNaming(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// Secure by default: repos. A server that accepts and never answers fails
// the sandbox's preparation with a message naming AWO_GIT_TIMEOUT, and
// leaves no git (or git-remote-https, or ssh) behind.
func TestPrepare_SilentServerTimesOut(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc to look for leftover processes")
	}
	urls := []string{"https://%s/acme/demo.git"}
	if _, err := exec.LookPath("ssh"); err == nil {
		urls = append(urls, "ssh://git@%s/acme/demo.git")
	}
	for _, format := range urls {
		addr := silentServer(t)
		url := fmt.Sprintf(format, addr)
		m := &sandbox.Manager{
			Root: t.TempDir(), AllowLocal: true, GitTimeout: 2 * time.Second,
			Env:    []string{"GIT_CONFIG_GLOBAL=" + os.DevNull, "GIT_CONFIG_NOSYSTEM=1"},
			Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		}
		start := time.Now()
		_, err := m.Prepare(t.Context(), sandbox.Spec{WorkOrderID: "wo-00000001", RepositoryURL: url, Type: workorder.SandboxWorktree})
		elapsed := time.Since(start)
		if err == nil {
			t.Fatalf("%s: Prepare succeeded against a silent server", url)
		}
		if !strings.Contains(err.Error(), "AWO_GIT_TIMEOUT") || !strings.Contains(err.Error(), "git clone") {
			t.Errorf("%s: error %q, want it to name git clone and AWO_GIT_TIMEOUT", url, err)
		}
		if elapsed > 10*time.Second {
			t.Errorf("%s: Prepare took %s with a 2s git timeout", url, elapsed)
		}
		// The whole process group is killed; give the kernel a moment to
		// reap.
		deadline := time.Now().Add(5 * time.Second)
		for left := processesNaming(addr); len(left) > 0; left = processesNaming(addr) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: processes left behind: %v", url, left)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
