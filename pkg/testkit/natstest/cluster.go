package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ClusterTag is a placement tag every node of a Cluster carries; each node
// also carries "node:<index>".
const ClusterTag = "awo-test"

// account is the account of a server without accounts configured.
const account = server.DEFAULT_GLOBAL_ACCOUNT

// Cluster is a JetStream cluster of embedded nats-servers on loopback, each
// with its own store directory, for tests of replicated streams and of
// nodes going away. Its nodes keep their ports and data across Stop and
// Restart, as a real node's would.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*clusterNode
}

type clusterNode struct {
	opts *server.Options
	srv  *server.Server // nil while stopped
}

// StartCluster runs n (at least 3 for a quorum that survives a node)
// clustered JetStream servers for the test's lifetime and waits until they
// have elected a meta leader that sees them all. It makes no stream.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("StartCluster: %d nodes", n)
	}
	clientPorts, routePorts := freePorts(t, n), freePorts(t, n)
	var routes []*url.URL
	for _, p := range routePorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))})
	}
	c := &Cluster{t: t}
	for i := range n {
		c.nodes = append(c.nodes, &clusterNode{opts: &server.Options{
			ServerName: "n" + strconv.Itoa(i),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			Cluster: server.ClusterOpts{
				Name: "awo-test",
				Host: "127.0.0.1",
				Port: routePorts[i],
			},
			Routes:     routes,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Tags:       []string{ClusterTag, "node:" + strconv.Itoa(i)},
			MaxPayload: 8 << 20,
			NoLog:      true,
			NoSigs:     true,
		}})
	}
	t.Cleanup(c.shutdown)
	// All at once: JetStream's meta group needs a quorum to elect a leader.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = c.start(i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.waitAllPeers()
	return c
}

// waitAllPeers waits until the meta leader counts every running node as
// an online JetStream peer: before that, placing a stream on all of them
// fails with "no suitable peers".
func (c *Cluster) waitAllPeers() {
	c.t.Helper()
	c.waitFor("every running node to be an online JetStream peer of the meta leader", func() (int, bool) {
		running := 0
		for i := range c.nodes {
			if c.Running(i) {
				running++
			}
		}
		leader, ok := c.find(func(s *server.Server) bool { return s.JetStreamIsLeader() })
		if !ok {
			return 0, false
		}
		srv := c.Server(leader)
		return leader, srv != nil && len(srv.JetStreamClusterPeers()) == running
	})
}

// freePorts picks n free loopback ports. Another process could take one
// before the server binds it; on loopback in a test run that is rare.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return ports
}

func (c *Cluster) start(i int) error {
	n := c.nodes[i]
	opts := *n.opts // the server keeps and changes its options
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("cluster node %d: %w", i, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("cluster node %d: not ready for connections after 30s", i)
	}
	c.mu.Lock()
	n.srv = srv
	c.mu.Unlock()
	return nil
}

func (c *Cluster) shutdown() {
	for i := range c.nodes {
		c.Stop(i)
	}
}

// Size is the number of nodes, running or not.
func (c *Cluster) Size() int { return len(c.nodes) }

// URLs are the nodes' client URLs, in node order; they stay the same when a
// node restarts.
func (c *Cluster) URLs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, "nats://"+net.JoinHostPort(n.opts.Host, strconv.Itoa(n.opts.Port)))
	}
	return out
}

// URL is every node's client URL, comma-separated, as NATS_URL takes them.
func (c *Cluster) URL() string { return strings.Join(c.URLs(), ",") }

// Server is node i's running server, nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Running reports whether node i is up.
func (c *Cluster) Running(i int) bool { return c.Server(i) != nil }

// Stop shuts node i down (its data stays for Restart); stopping a stopped
// node does nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	srv := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a stopped node again on its ports and data, and waits until
// its JetStream has caught up and the meta leader sees it again.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.Running(i) {
		c.t.Fatalf("Restart: node %d is running", i)
	}
	if err := c.start(i); err != nil {
		c.t.Fatal(err)
	}
	c.waitFor(fmt.Sprintf("node %d's JetStream to be current", i), func() (int, bool) {
		srv := c.Server(i)
		return i, srv != nil && srv.JetStreamIsCurrent()
	})
	c.waitAllPeers()
}

// MetaLeader waits for the JetStream meta leader and returns its node.
func (c *Cluster) MetaLeader() int {
	c.t.Helper()
	return c.waitFor("a JetStream meta leader", func() (int, bool) {
		return c.find(func(s *server.Server) bool { return s.JetStreamIsLeader() })
	})
}

// LeaderOf waits for the leader of stream (of a key-value bucket: "KV_"
// and its name) and returns its node.
func (c *Cluster) LeaderOf(stream string) int {
	c.t.Helper()
	return c.waitFor("a leader of stream "+stream, func() (int, bool) {
		return c.find(func(s *server.Server) bool { return s.JetStreamIsStreamLeader(account, stream) })
	})
}

// ConsumerLeaderOf waits for the leader of a durable consumer and returns
// its node.
func (c *Cluster) ConsumerLeaderOf(stream, consumer string) int {
	c.t.Helper()
	return c.waitFor("a leader of consumer "+stream+" > "+consumer, func() (int, bool) {
		return c.find(func(s *server.Server) bool { return s.JetStreamIsConsumerLeader(account, stream, consumer) })
	})
}

// WaitStreamCurrent waits until every running node that holds a replica
// of stream has caught up with its leader.
func (c *Cluster) WaitStreamCurrent(stream string) {
	c.t.Helper()
	c.waitFor("every replica of "+stream+" to be current", func() (int, bool) {
		for i := range c.nodes {
			srv := c.Server(i)
			if srv != nil && srv.JetStreamIsStreamAssigned(account, stream) && !srv.JetStreamIsStreamCurrent(account, stream) {
				return 0, false
			}
		}
		return 0, true
	})
}

// WaitStreamReplicas waits until n running nodes hold a current replica
// of stream: after a stream is created or rescaled, the new replicas
// catch up in the background.
func (c *Cluster) WaitStreamReplicas(stream string, n int) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%d current replicas of %s", n, stream), func() (int, bool) {
		held := 0
		for i := range c.nodes {
			srv := c.Server(i)
			if srv != nil && srv.JetStreamIsStreamAssigned(account, stream) && srv.JetStreamIsStreamCurrent(account, stream) {
				held++
			}
		}
		return held, held == n
	})
}

func (c *Cluster) find(is func(*server.Server) bool) (int, bool) {
	for i := range c.nodes {
		if srv := c.Server(i); srv != nil && is(srv) {
			return i, true
		}
	}
	return -1, false
}

// waitFor polls cond for up to 30 s.
func (c *Cluster) waitFor(what string, cond func() (int, bool)) int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if i, ok := cond(); ok {
			return i
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s after 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Connect opens a client connection to every node's URL (in random order,
// as a service given NATS_URL does) that reconnects for ever, closed when
// the test ends.
func (c *Cluster) Connect(t testing.TB, name string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(c.URL(), append([]nats.Option{
		nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// ConnectTo opens a client connection to node i only.
func (c *Cluster) ConnectTo(t testing.TB, i int, name string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(c.URLs()[i], append([]nats.Option{nats.Name(name)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// StreamReplicas is how many servers hold stream: its leader and its
// other replicas, as the stream's info reports them.
func StreamReplicas(ctx context.Context, js jetstream.JetStream, stream string) (configured, placed int, err error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, 0, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return info.Config.Replicas, 0, nil
	}
	return info.Config.Replicas, 1 + len(info.Cluster.Replicas), nil
}
