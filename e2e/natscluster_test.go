//go:build cluster

package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsCluster is three (or more) nats-servers with JetStream clustering,
// embedded in the test process on loopback ports. Each node keeps its
// store in a directory of its own, so a stopped node that is started again
// recovers from its disk and catches up from the others, as a restarted
// machine would.
type natsCluster struct {
	t     testing.TB
	nodes []*natsNode
}

type natsNode struct {
	name       string
	clientPort int
	routePort  int
	storeDir   string
	routes     string

	mu  sync.Mutex
	srv *server.Server // nil while stopped
}

// globalAccount is the account of a server without accounts configured.
const globalAccount = "$G"

func startNATSCluster(t testing.TB, n int) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t}
	var routes []string
	for i := range n {
		node := &natsNode{name: fmt.Sprintf("n%d", i+1), clientPort: atoi(t, freePort(t)), routePort: atoi(t, freePort(t)), storeDir: t.TempDir()}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", node.routePort))
		c.nodes = append(c.nodes, node)
	}
	for _, node := range c.nodes {
		node.routes = strings.Join(routes, ",")
	}
	t.Cleanup(func() {
		for _, node := range c.nodes {
			node.stop()
		}
	})
	// Together: a clustered JetStream server waits for its peers before it
	// is ready.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, node := range c.nodes {
		wg.Go(func() { errs[i] = node.start() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.waitMetaLeader(nil, 60*time.Second)
	return c
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// options are built afresh for every start: the server keeps and changes
// the ones it is given.
func (n *natsNode) options() *server.Options {
	return &server.Options{
		ServerName: n.name,
		Host:       "127.0.0.1",
		Port:       n.clientPort,
		JetStream:  true,
		StoreDir:   n.storeDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: 8 << 20,
		Cluster: server.ClusterOpts{
			Name: "awo-e2e",
			Host: "127.0.0.1",
			Port: n.routePort,
		},
		Routes: server.RoutesFromStr(n.routes),
	}
}

func (n *natsNode) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return fmt.Errorf("nats node %s is already running", n.name)
	}
	srv, err := server.NewServer(n.options())
	if err != nil {
		return fmt.Errorf("nats node %s: %w", n.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(60 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("nats node %s not ready within 60s", n.name)
	}
	n.srv = srv
	return nil
}

// stop shuts the node down and waits until it has closed its store.
func (n *natsNode) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

func (n *natsNode) server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.clientPort) }

// URLs is the NATS_URL of a client of the cluster: every node.
func (c *natsCluster) URLs() string {
	var urls []string
	for _, n := range c.nodes {
		urls = append(urls, n.url())
	}
	return strings.Join(urls, ",")
}

// metaLeader is the node leading the JetStream meta group, nil when none
// is (an election).
func (c *natsCluster) metaLeader() *natsNode {
	for _, n := range c.nodes {
		if s := n.server(); s != nil && s.JetStreamIsLeader() {
			return n
		}
	}
	return nil
}

// streamLeader is the node leading the stream's group, nil when none is.
func (c *natsCluster) streamLeader(stream string) *natsNode {
	for _, n := range c.nodes {
		if s := n.server(); s != nil && s.JetStreamIsStreamLeader(globalAccount, stream) {
			return n
		}
	}
	return nil
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

// waitCurrent waits until every running node is current with the meta
// group and with each of streams (caught up after a restart).
func (c *natsCluster) waitCurrent(within time.Duration, streams ...string) {
	c.t.Helper()
	waitUntilTB(c.t, within, "every node current with the cluster", func() bool {
		for _, n := range c.nodes {
			s := n.server()
			if s == nil || !s.JetStreamIsCurrent() {
				return false
			}
			for _, st := range streams {
				if !s.JetStreamIsStreamCurrent(globalAccount, st) {
					return false
				}
			}
		}
		return true
	})
}

// localStream is one node's own copy of a stream: what it has stored, not
// what the leader answers for the group.
type localStream struct {
	Node     string
	Msgs     uint64
	FirstSeq uint64
	LastSeq  uint64
	Replicas int
}

func (n *natsNode) localStream(stream string) (localStream, error) {
	s := n.server()
	if s == nil {
		return localStream{}, fmt.Errorf("node %s is stopped", n.name)
	}
	info, err := s.Jsz(&server.JSzOptions{Accounts: true, Streams: true, Config: true})
	if err != nil {
		return localStream{}, fmt.Errorf("node %s: %w", n.name, err)
	}
	for _, acc := range info.AccountDetails {
		for _, st := range acc.Streams {
			if st.Name != stream {
				continue
			}
			out := localStream{Node: n.name, Msgs: st.State.Msgs, FirstSeq: st.State.FirstSeq, LastSeq: st.State.LastSeq}
			if st.Config != nil {
				out.Replicas = st.Config.Replicas
			}
			return out, nil
		}
	}
	return localStream{}, fmt.Errorf("node %s has no copy of %s", n.name, stream)
}

func waitUntilTB(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
