package history

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Build compiles the all-in-one into dir and returns its path. repoRoot
// is the checkout (the go.work directory).
func Build(ctx context.Context, repoRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "awo")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/awo")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the all-in-one: %v: %s", err, out)
	}
	return bin, nil
}

// Process is a running all-in-one.
type Process struct {
	URL string
	cmd *exec.Cmd
	log *os.File
}

// Start runs bin with AWO_DATA_DIR=dataDir and env added, on a free port
// of 127.0.0.1, logging into logPath.
func Start(bin, dataDir, logPath string, env map[string]string) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "AWO_DATA_DIR="+dataDir, "AGENT_WORK_ORDERS_HOST=127.0.0.1",
		"AGENT_WORK_ORDERS_PORT="+strconv.Itoa(port), "LOG_LEVEL=warn", "AWO_SHUTDOWN_GRACE=5s",
		"AGENT_WORK_ORDER_TEMP_DIR="+filepath.Join(filepath.Dir(dataDir), "sandboxes"))
	if c := os.Getenv("AWO_TEST_CLAUDE"); c != "" && os.Getenv("CLAUDE_CLI_PATH") == "" {
		cmd.Env = append(cmd.Env, "CLAUDE_CLI_PATH="+c)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	return &Process{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: logf}, nil
}

// WaitReady polls /readyz until the read model has caught up with the
// stream (the projector has replayed the history) and returns how long
// since started.
func (p *Process) WaitReady(ctx context.Context, started time.Time, limit time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if ok := p.ready(ctx, client); ok {
			return time.Since(started), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("the all-in-one was not ready after %s (see %s)", limit, p.log.Name())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *Process) ready(ctx context.Context, client *http.Client) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"read_model":{"ok":true`)
}

// RSS is the process's resident set and its peak, in MB.
func (p *Process) RSS() (rss, peak float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak, nil
}

// CPU is the CPU time (user and system) the process has used so far.
func (p *Process) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after it
	// start past its closing parenthesis: utime and stime are 14 and 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("reading /proc/%d/stat: %d fields", p.cmd.Process.Pid, len(f))
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	// USER_HZ is 100 on Linux.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// Stop asks the process to stop (SIGTERM) and waits, killing it after
// 60 s: a memory read model of 100,000 work orders writes its snapshot
// while it stops, which takes a while on a loaded machine.
func (p *Process) Stop() error {
	defer p.log.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		return <-done
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RebuildPostgres runs `awo rebuild-read-model` on dataDir into
// databaseURL and returns its wall time.
func RebuildPostgres(ctx context.Context, bin, dataDir, databaseURL, logPath string) (time.Duration, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, bin, "rebuild-read-model")
	cmd.Env = append(os.Environ(), "AWO_DATA_DIR="+dataDir, "STATE_STORAGE_TYPE=postgres", "DATABASE_URL="+databaseURL, "LOG_LEVEL=info")
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("awo rebuild-read-model: %v (see %s)", err, logPath)
	}
	return time.Since(start), nil
}

// HeapMB is the Go heap in use and the heap the runtime holds from the
// OS (go_memstats_heap_inuse_bytes, go_memstats_heap_sys_bytes on
// /metrics), to tell the read model's live data from the rest of the RSS.
func (p *Process) HeapMB() (inuse, sys float64) {
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "go_memstats_heap_inuse_bytes":
			inuse = v / (1 << 20)
		case "go_memstats_heap_sys_bytes":
			sys = v / (1 << 20)
		}
	}
	return inuse, sys
}
