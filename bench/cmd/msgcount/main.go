// Command msgcount counts the NATS messages of the pipeline benchmark's
// instant-agent work orders by kind: a subscriber to ">" in the services'
// account sees every message published there (publishes, acknowledgements,
// pull requests, replies, deliveries to the consumers), grouped by the shape
// of its subject. The pipeline benchmark reports only the server's totals
// per work order; this says which messages they are.
//
//	go run ./bench/cmd/msgcount -n 200
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/bench/internal/fakes"
	"github.com/agentworkorders/awo/bench/internal/system"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/natsembed"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// shapes name a subject by what it is; the first match wins.
var shapes = []struct {
	re   *regexp.Regexp
	name string
}{
	{regexp.MustCompile(`^_INBOX\.[^.]+\.[^.]+$`), "_INBOX.x.y (replies: publish acks, gets, pulled messages)"},
	{regexp.MustCompile(`^_INBOX\.`), "_INBOX.*"},
	{regexp.MustCompile(`^\$JS\.ACK\.([^.]+)\.([^.]+)\.`), "$JS.ACK.<stream>.<consumer>"},
	{regexp.MustCompile(`^\$JS\.API\.CONSUMER\.MSG\.NEXT\.([^.]+)\.([^.]+)`), "$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>"},
	{regexp.MustCompile(`^\$JS\.API\.DIRECT\.GET\.([^.]+)`), "$JS.API.DIRECT.GET.<stream>"},
	{regexp.MustCompile(`^\$JS\.API\.([A-Z.]+)`), "$JS.API.<op>"},
	{regexp.MustCompile(`^\$KV\.([^.]+)\.`), "$KV.<bucket>"},
	{regexp.MustCompile(`^([^.]+\.[^.]+)`), "<subject>"},
}

func shape(s string) string {
	for _, sh := range shapes {
		if m := sh.re.FindStringSubmatch(s); m != nil {
			if len(m) > 1 {
				return fmt.Sprintf("%s %v", sh.name, m[1:])
			}
			return sh.name
		}
	}
	return s
}

func main() {
	n := flag.Int("n", 200, "work orders counted (after 16 to warm up)")
	inFlight := flag.Int("inflight", 8, "work orders in flight at once")
	flag.Parse()
	if err := run(context.Background(), *n, *inFlight); err != nil {
		fmt.Fprintln(os.Stderr, "msgcount:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n, inFlight int) error {
	tmp, err := os.MkdirTemp("", "awo-msgcount-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	srv, err := natsembed.Start(natsembed.Options{DataDir: filepath.Join(tmp, "nats"), Name: "awo-msgcount"})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	if err := ensureStreams(ctx, srv); err != nil {
		return err
	}
	env := map[string]string{"AWO_EXECUTOR_CONCURRENCY": "32", "AWO_ALLOW_LOCAL_REPOS": "true",
		"AGENT_WORK_ORDER_TEMP_DIR": filepath.Join(tmp, "sandboxes"), "AWO_DATA_DIR": filepath.Join(tmp, "unused"),
		"AWO_SHUTDOWN_GRACE": "5s", "AWO_WORKER_ID": "bench", "AWO_CREATE_RATE": "off"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	sandboxes, err := fakes.NewFlatSandboxes(filepath.Join(tmp, "flat-sandbox"))
	if err != nil {
		return err
	}
	sys, err := system.Start(ctx, system.Options{Config: cfg, Connect: func(name string) (*nats.Conn, error) { return srv.Connect(name) },
		Agent: fakes.InstantAgent{}, Sandboxes: sandboxes, GH: &fakes.InstantGH{},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer sys.Stop()
	load := system.Load{InFlight: inFlight, RepositoryURL: "https://github.com/acme/demo", Steps: workorder.Steps, EndTimeout: time.Minute, Count: 16}
	if _, err := sys.Drive(ctx, load); err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	c, stop, err := sniff(srv)
	if err != nil {
		return err
	}
	load.Count = n
	if _, err := sys.Drive(ctx, load); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // the last acks
	stop()
	c.print(n)
	return nil
}

func ensureStreams(ctx context.Context, srv *natsembed.Server) error {
	nc, err := srv.Connect("msgcount-setup")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return bus.EnsureStreams(ctx, js, bus.StreamSettings{})
}

type counts struct {
	mu    sync.Mutex
	n     map[string]int
	bytes map[string]int
}

// sniff counts every message published in the account until stop.
func sniff(srv *natsembed.Server) (*counts, func(), error) {
	nc, err := srv.Connect("msgcount-sniffer")
	if err != nil {
		return nil, nil, err
	}
	c := &counts{n: map[string]int{}, bytes: map[string]int{}}
	sub, err := nc.Subscribe(">", func(m *nats.Msg) {
		k := shape(m.Subject)
		c.mu.Lock()
		c.n[k]++
		c.bytes[k] += len(m.Data)
		c.mu.Unlock()
	})
	if err == nil {
		err = sub.SetPendingLimits(-1, -1)
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return c, func() { _ = sub.Unsubscribe(); nc.Close() }, nil
}

func (c *counts) print(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.n))
	total := 0
	for k, v := range c.n {
		keys = append(keys, k)
		total += v
	}
	sort.Slice(keys, func(i, j int) bool { return c.n[keys[i]] > c.n[keys[j]] })
	for _, k := range keys {
		fmt.Printf("%7.2f /wo %7.0f B/wo  %s\n", float64(c.n[k])/float64(n), float64(c.bytes[k])/float64(n), k)
	}
	fmt.Printf("%7.2f /wo total (every message published in the account)\n", float64(total)/float64(n))
}
