package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// cluster is a throwaway PostgreSQL cluster in a temporary directory. It
// listens on 127.0.0.1 at a free port and keeps its unix socket in its own
// directory, so it never meets another server's socket or lock file.
type cluster struct {
	dir  string // holds data/, the socket and the log
	bin  string // directory of initdb, pg_ctl and postgres
	port int
	cred *syscall.Credential // non-nil when running as root

	mu sync.Mutex
	up bool
}

// startCluster runs initdb and starts the server. The server trusts local
// connections and runs with fsync off: the data is thrown away anyway.
func startCluster() (*cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("making the cluster directory: %w", err)
	}
	c := &cluster{dir: dir, bin: bin}
	fail := func(err error) (*cluster, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// initdb and postgres refuse to run as root: hand the directory to the
	// postgres user and run them as that user.
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return fail(err)
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("handing %s to the postgres user: %w", dir, err))
		}
		c.cred = cred
	}
	if out, err := c.run("initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	// A free port can be taken between choosing and binding it; try again
	// on another one rather than fail the test.
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return fail(err)
		}
		err = c.start()
		if err == nil {
			return c, nil
		}
		if attempt == 5 || !strings.Contains(err.Error(), "in use") {
			return fail(err)
		}
	}
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }

func (c *cluster) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

func (c *cluster) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200",
		c.port, c.dir)
	logFile := filepath.Join(c.dir, "postgres.log")
	if out, err := c.run("pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l", logFile, "-o", opts); err != nil {
		serverLog, _ := os.ReadFile(logFile)
		return fmt.Errorf("pg_ctl start on port %d: %w\n%s\n%s", c.port, err, out, lastLines(serverLog, 10))
	}
	c.up = true
	return nil
}

func (c *cluster) stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.up {
		return nil
	}
	if out, err := c.run("pg_ctl", "stop", "-w", "-m", "fast", "-D", c.dataDir()); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	c.up = false
	return nil
}

func (c *cluster) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up
}

func (c *cluster) destroy() error {
	return errors.Join(c.stop(), os.RemoveAll(c.dir))
}

func (c *cluster) run(tool string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, tool), args...)
	cmd.Dir = c.dir // the caller's directory may be closed to the postgres user
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// findBinaries prefers initdb on PATH and otherwise the newest
// /usr/lib/postgresql/<version>/bin (Debian's layout, where initdb is
// usually not on PATH).
func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		// Resolve symlinks so that pg_ctl and postgres come from the same
		// installation as initdb.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorVersion(dirs[i]) > majorVersion(dirs[j]) })
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; " +
		"install postgresql or set DATABASE_URL to a server the tests may create databases on")
}

func majorVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, the cluster must run as the postgres user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
