//go:build cluster

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsCluster is three nats-server processes with JetStream clustering on
// loopback ports. Each node keeps its store in a directory of its own, so
// a node killed with SIGKILL and started again recovers from its disk and
// catches up from the others, as a crashed machine would. Processes, not
// servers embedded in the test: an embedded server can only be shut down,
// and a shutdown hands its leaderships over first; a crash leaves the
// others to notice and elect.
type natsCluster struct {
	t     testing.TB
	nodes []*natsNode
}

type natsNode struct {
	name       string
	clientPort string
	httpPort   string // monitoring: /jsz, /healthz
	config     string
	logPath    string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

var (
	natsServerOnce sync.Once
	natsServerBin  string
	natsServerErr  error
)

// natsServerBinary builds the nats-server the go.mod names, once.
func natsServerBinary(t testing.TB) string {
	t.Helper()
	natsServerOnce.Do(func() {
		natsServerBin = filepath.Join(binDir, "nats-server")
		out, err := exec.Command("go", "build", "-o", natsServerBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsServerErr = fmt.Errorf("building nats-server: %v\n%s", err, out)
		}
	})
	if natsServerErr != nil {
		t.Fatal(natsServerErr)
	}
	return natsServerBin
}

func startNATSCluster(t testing.TB, n int) *natsCluster {
	t.Helper()
	bin := natsServerBinary(t)
	c := &natsCluster{t: t}
	dir := t.TempDir()
	var routes, routePorts []string
	for range n {
		p := freePort(t)
		routePorts = append(routePorts, p)
		routes = append(routes, "nats://127.0.0.1:"+p)
	}
	for i := range n {
		node := &natsNode{name: fmt.Sprintf("n%d", i+1), clientPort: freePort(t), httpPort: freePort(t)}
		node.config = filepath.Join(dir, node.name+".conf")
		node.logPath = filepath.Join(dir, node.name+".log")
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%s
http: 127.0.0.1:%s
max_payload: 8MB
jetstream { store_dir: %q }
cluster {
  name: awo-e2e
  listen: 127.0.0.1:%s
  routes: [%s]
}
`, node.name, node.clientPort, node.httpPort, filepath.Join(dir, node.name+"-store"), routePorts[i], strings.Join(routes, ", "))
		if err := os.WriteFile(node.config, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
	}
	t.Cleanup(func() {
		for _, node := range c.nodes {
			node.kill()
		}
		if t.Failed() || os.Getenv("AWO_E2E_KEEP_LOGS") != "" {
			for _, node := range c.nodes {
				b, _ := os.ReadFile(node.logPath)
				if d := os.Getenv("AWO_E2E_KEEP_LOGS"); d != "" {
					_ = os.MkdirAll(d, 0o755)
					_ = os.WriteFile(filepath.Join(d, "nats-"+node.name+".log"), b, 0o644)
				}
				if t.Failed() {
					t.Logf("log of nats node %s:\n%s", node.name, tail(string(b), 60))
				}
			}
		}
	})
	for _, node := range c.nodes {
		if err := node.start(bin); err != nil {
			t.Fatal(err)
		}
	}
	c.waitMetaLeader(nil, 60*time.Second)
	c.waitCurrent(60 * time.Second)
	return c
}

func (n *natsNode) start(bin string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("nats node %s is already running", n.name)
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== e2e: start of %s at %s ===\n", n.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(bin, "-c", n.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting nats node %s: %w", n.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	n.cmd, n.exited = cmd, exited
	return nil
}

// kill SIGKILLs the node, as a crash or a pulled plug would, and waits
// until it is gone.
func (n *natsNode) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.cmd, n.exited = nil, nil
}

func (n *natsNode) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

func (n *natsNode) url() string { return "nats://127.0.0.1:" + n.clientPort }

// URLs is the NATS_URL of a client of the cluster: every node.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, n.url())
	}
	return strings.Join(urls, ",")
}

var monitorClient = &http.Client{Timeout: 2 * time.Second}

// jsz is the node's own JetStream report (its copy of every stream with
// streams set); ok is false while it does not answer.
func (n *natsNode) jsz(streams bool) (*server.JSInfo, bool) {
	if !n.running() {
		return nil, false
	}
	url := "http://127.0.0.1:" + n.httpPort + "/jsz"
	if streams {
		url += "?accounts=true&streams=true&config=true"
	}
	resp, err := monitorClient.Get(url)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var info server.JSInfo
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil {
		return nil, false
	}
	return &info, true
}

// healthy is the node's /healthz: JetStream current with the meta group
// and with every stream and consumer it holds a copy of.
func (n *natsNode) healthy() bool {
	if !n.running() {
		return false
	}
	resp, err := monitorClient.Get("http://127.0.0.1:" + n.httpPort + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// metaLeader is the node that says it leads the JetStream meta group, nil
// when none does (an election).
func (c *natsCluster) metaLeader() *natsNode {
	for _, n := range c.nodes {
		if info, ok := n.jsz(false); ok && info.Meta != nil && info.Meta.Leader == n.name {
			return n
		}
	}
	return nil
}

// streamLeader is the node that says it leads the stream's group.
func (c *natsCluster) streamLeader(stream string) *natsNode {
	for _, n := range c.nodes {
		if s, ok := n.stream(stream); ok && s.Cluster != nil && s.Cluster.Leader == n.name {
			return n
		}
	}
	return nil
}

// ledBy names the groups the node leads: "meta" and streams.
func (c *natsCluster) ledBy(n *natsNode) []string {
	var led []string
	info, ok := n.jsz(true)
	if !ok {
		return nil
	}
	if info.Meta != nil && info.Meta.Leader == n.name {
		led = append(led, "meta")
	}
	for _, acc := range info.AccountDetails {
		for _, st := range acc.Streams {
			if st.Cluster != nil && st.Cluster.Leader == n.name {
				led = append(led, st.Name)
			}
		}
	}
	return led
}

// moveStreamLeaderOff asks the stream's leader to step down until the
// stream is led by a node other than off.
func (c *natsCluster) moveStreamLeaderOff(nc *nats.Conn, stream string, off *natsNode) {
	c.t.Helper()
	for range 10 {
		l := c.waitStreamLeader(stream, nil, time.Minute)
		if l != off {
			return
		}
		if _, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 10*time.Second); err != nil {
			c.t.Logf("asking the leader of %s to step down: %v", stream, err)
		}
		c.waitStreamLeader(stream, l, time.Minute)
	}
	c.t.Fatalf("%s is still led by %s after 10 step-downs", stream, off.name)
}

// stream is the node's own copy of a stream.
func (n *natsNode) stream(stream string) (server.StreamDetail, bool) {
	info, ok := n.jsz(true)
	if !ok {
		return server.StreamDetail{}, false
	}
	for _, acc := range info.AccountDetails {
		for _, st := range acc.Streams {
			if st.Name == stream {
				return st, true
			}
		}
	}
	return server.StreamDetail{}, false
}

// waitMetaLeader waits for a meta leader other than not.
func (c *natsCluster) waitMetaLeader(not *natsNode, within time.Duration) *natsNode {
	c.t.Helper()
	var l *natsNode
	waitUntilTB(c.t, within, "a JetStream meta leader", func() bool {
		l = c.metaLeader()
		return l != nil && l != not
	})
	return l
}

// waitStreamLeader waits for a leader of stream other than not.
func (c *natsCluster) waitStreamLeader(stream string, not *natsNode, within time.Duration) *natsNode {
	c.t.Helper()
	var l *natsNode
	waitUntilTB(c.t, within, "a leader of "+stream, func() bool {
		l = c.streamLeader(stream)
		return l != nil && l != not
	})
	return l
}

// waitCurrent waits until every node is up and current (caught up after
// a restart).
func (c *natsCluster) waitCurrent(within time.Duration) {
	c.t.Helper()
	waitUntilTB(c.t, within, "every nats node current with the cluster", func() bool {
		for _, n := range c.nodes {
			if !n.healthy() {
				return false
			}
		}
		return true
	})
}

func waitUntilTB(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		// Not faster: every failed /healthz is a line in the node's log.
		time.Sleep(200 * time.Millisecond)
	}
}
