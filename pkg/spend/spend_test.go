package spend_test

import (
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/spend"
	"github.com/agentworkorders/awo/pkg/testkit/natstest"
)

func TestDayKeyNextDay(t *testing.T) {
	for _, tc := range []struct {
		at        time.Time
		key, next string
	}{
		{time.Date(2026, 12, 6, 3, 4, 5, 0, time.UTC), "day.2026-12-06", "2026-12-07T00:00:00Z"},
		{time.Date(2026, 12, 31, 23, 59, 59, 999, time.UTC), "day.2026-12-31", "2027-01-01T00:00:00Z"},
		{time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), "day.2026-12-07", "2026-12-08T00:00:00Z"},
		// 20:00 in New York on the 6th is 01:00 UTC on the 7th: the day is UTC's.
		{time.Date(2026, 12, 6, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)), "day.2026-12-07", "2026-12-08T00:00:00Z"},
	} {
		if got := spend.Key(tc.at); got != tc.key {
			t.Errorf("Key(%s) = %s, want %s", tc.at, got, tc.key)
		}
		if got := spend.NextDay(tc.at).Format(time.RFC3339); got != tc.next {
			t.Errorf("NextDay(%s) = %s, want %s", tc.at, got, tc.next)
		}
	}
}

func open(t *testing.T, now func() time.Time) (*spend.Counter, *natstest.Env) {
	t.Helper()
	env := natstest.Start(t)
	c, err := spend.Open(context.Background(), env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	if now != nil {
		kv, err := env.JS.KeyValue(context.Background(), spend.Bucket)
		if err != nil {
			t.Fatal(err)
		}
		c = spend.New(kv, now)
	}
	return c, env
}

// Adds from many goroutines (many executors) sum to the exact total: no
// add is lost to a concurrent one, and nothing drifts as floats would.
func TestAdd_ConcurrentSumExactly(t *testing.T) {
	c, _ := open(t, nil)
	ctx := context.Background()
	const workers, each = 8, 25
	amounts := []float64{0.0004, 0.1, 0.000000001, 1.23456789}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := c.Add(ctx, amounts[(w+i)%len(amounts)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := c.Today(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 200 adds, 50 of each amount: 50 × 1.334967891 nano-exact.
	const want = 66.74839455
	if got.USD != want || got.Day != spend.Day(time.Now()) {
		t.Errorf("today = %+v, want $%v on %s", got, want, spend.Day(time.Now()))
	}
}

func TestAdd_PerDay(t *testing.T) {
	now := time.Date(2026, 12, 6, 23, 59, 0, 0, time.UTC)
	c, env := open(t, func() time.Time { return now })
	ctx := context.Background()
	if got, err := c.Today(ctx); err != nil || got.USD != 0 || got.Day != "2026-12-06" {
		t.Fatalf("before any add: %+v, %v; want $0 on 2026-12-06", got, err)
	}
	if got, err := c.Add(ctx, 0.25); err != nil || got.USD != 0.25 {
		t.Fatalf("first add: %+v, %v", got, err)
	}
	if got, err := c.Add(ctx, 0.5); err != nil || got.USD != 0.75 {
		t.Fatalf("second add: %+v, %v", got, err)
	}
	if got, err := c.Add(ctx, 0); err != nil || got.USD != 0.75 {
		t.Fatalf("adding nothing: %+v, %v; want the total unchanged", got, err)
	}
	if got, err := c.Add(ctx, -1); err != nil || got.USD != 0.75 {
		t.Fatalf("adding a negative cost: %+v, %v; want the total unchanged", got, err)
	}
	now = now.Add(2 * time.Minute) // the next UTC day
	if got, err := c.Today(ctx); err != nil || got.USD != 0 || got.Day != "2026-12-07" {
		t.Fatalf("after midnight: %+v, %v; want a new day at $0", got, err)
	}
	if got, err := c.Add(ctx, 0.0004); err != nil || got.USD != 0.0004 {
		t.Fatalf("first add of the new day: %+v, %v", got, err)
	}
	kv, _ := env.JS.KeyValue(ctx, spend.Bucket)
	e, err := kv.Get(ctx, "day.2026-12-06")
	if err != nil || !regexp.MustCompile(`^0\.750000000 [A-Z2-7]{16}$`).Match(e.Value()) {
		t.Fatalf("stored yesterday: %q, %v; want the decimal 0.750000000 and the add's tag", e.Value(), err)
	}
	// A value the counter cannot read is an error, not a silent 0.
	if _, err := kv.Put(ctx, "day.2026-12-07", []byte("lots")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Today(ctx); err == nil {
		t.Error("an unreadable total read without error")
	}
	if _, err := c.Add(ctx, 1); err == nil {
		t.Error("an add onto an unreadable total succeeded")
	}
}

// With the server gone, reads and adds fail (the gateway answers 503)
// rather than report $0.
func TestUnreachable(t *testing.T) {
	c, env := open(t, nil)
	env.Server.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := c.Today(ctx); err == nil {
		t.Error("read with the server down: no error")
	}
	if _, err := c.Add(ctx, 1); err == nil {
		t.Error("add with the server down: no error")
	}
}

// Bind creates a missing bucket, or takes the one there: an add through
// one counter is read through the other.
func TestBind(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	bound, err := spend.Bind(ctx, env.JS, bus.Replication{})
	if err != nil {
		t.Fatalf("bind to a missing bucket: %v", err)
	}
	if _, err := bound.Add(ctx, 0.5); err != nil {
		t.Fatal(err)
	}
	opened, err := spend.Open(ctx, env.JS, bus.Replication{})
	if err != nil {
		t.Fatalf("open after bind: %v", err)
	}
	again, err := spend.Bind(ctx, env.JS, bus.Replication{})
	if err != nil {
		t.Fatalf("bind to the bucket there: %v", err)
	}
	for _, c := range []*spend.Counter{opened, again} {
		if got, err := c.Today(ctx); err != nil || got.USD != 0.5 {
			t.Errorf("today %+v, %v; want $0.5", got, err)
		}
	}
}

// interleaved fails its first Create without storing it, as a connection
// dropped before the write reached the server, and lets another add of
// the same amount in first.
type interleaved struct {
	jetstream.KeyValue
	other func()
	done  bool
}

func (k *interleaved) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if !k.done {
		k.done = true
		k.other()
		return 0, nats.ErrTimeout
	}
	return k.KeyValue.Create(ctx, key, value, opts...)
}

// Two adds of the same amount onto the same total, one of them retried
// after a failed write: the retry must not take the other's write for its
// own (the total would miss an add).
func TestAdd_RetryDoesNotTakeAnotherAddForItsOwn(t *testing.T) {
	env := natstest.Start(t)
	ctx := context.Background()
	other, err := spend.Open(ctx, env.JS, bus.Replication{})
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := env.JS.KeyValue(ctx, spend.Bucket)
	flaky := &interleaved{KeyValue: kv, other: func() {
		if _, err := other.Add(ctx, 0.5); err != nil {
			t.Error(err)
		}
	}}
	got, err := spend.New(flaky, nil).Add(ctx, 0.5)
	if err != nil || got.USD != 1 {
		t.Fatalf("add: %+v, %v; want a total of $1 (both adds)", got, err)
	}
}

// Bogus costs cannot wrap the day's total around: nano-dollars in an
// int64 hold $9.2e9, and a total at the ceiling stays there (over any
// budget, the safe side) instead of turning negative. A stored total past
// the ceiling is an error, not a wrapped number.
func TestAdd_TotalSaturatesInsteadOfOverflowing(t *testing.T) {
	c, env := open(t, nil)
	ctx := context.Background()
	var last float64
	for i := range 12 {
		got, err := c.Add(ctx, 1e9)
		if err != nil {
			t.Fatalf("add %d of $1e9: %v", i+1, err)
		}
		if got.USD < last || got.USD <= 0 {
			t.Fatalf("add %d of $1e9: total $%v after $%v; want it never to fall", i+1, got.USD, last)
		}
		last = got.USD
	}
	if _, err := c.Add(ctx, 1e10); err == nil {
		t.Errorf("a single cost of $1e10 was added")
	}
	kv, _ := env.JS.KeyValue(ctx, spend.Bucket)
	if _, err := kv.Put(ctx, spend.Key(time.Now()), []byte("99999999999.000000000 TAG")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Today(ctx); err == nil {
		t.Errorf("a stored total of $99999999999 read as $%v, want an error", got.USD)
	}
}

// The ceiling itself reads back; a nano-dollar past it is an error (the
// int64 would overflow a little further on).
func TestRead_Ceiling(t *testing.T) {
	c, env := open(t, nil)
	ctx := context.Background()
	kv, _ := env.JS.KeyValue(ctx, spend.Bucket)
	for v, ok := range map[string]bool{"9223372036.000000000 T": true, "9223372036.000000001 T": false, "9223372036.999999999 T": false} {
		if _, err := kv.Put(ctx, spend.Key(time.Now()), []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := c.Today(ctx)
		if (err == nil) != ok || ok && got.USD != 9223372036 {
			t.Errorf("stored %q: $%v, %v; want readable: %t", v, got.USD, err, ok)
		}
	}
}

// countingKV counts the reads that reach the bucket.
type countingKV struct {
	jetstream.KeyValue
	mu   sync.Mutex
	gets int
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.KeyValue.Get(ctx, key)
}

func (c *countingKV) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets
}

// A watched counter answers Today from memory: its own adds at once,
// another process's once the watch has delivered them, and without a
// read of the bucket.
func TestCounter_WatchedReadsFollowEveryAdd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	day := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return day }
	_, env := open(t, nil)
	kv, err := env.JS.KeyValue(ctx, spend.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spend.New(kv, clock).Add(ctx, 0.5); err != nil { // before the watch
		t.Fatal(err)
	}
	counted := &countingKV{KeyValue: kv}
	gw := spend.New(counted, clock)
	gw.Watch(ctx, env.JS.Conn(), nil)
	executor := spend.New(kv, clock)

	total := func() float64 {
		t.Helper()
		got, err := gw.Today(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got.USD
	}
	deadline := time.Now().Add(10 * time.Second)
	for !gw.Watched() || total() != 0.5 {
		if time.Now().After(deadline) {
			t.Fatalf("the total before the watch: %v", total())
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := executor.Add(ctx, 0.25); err != nil {
		t.Fatal(err)
	}
	for total() != 0.75 {
		if time.Now().After(deadline) {
			t.Fatalf("another counter's add not seen: %v", total())
		}
		time.Sleep(time.Millisecond)
	}
	before := counted.count()
	for range 100 {
		_ = total()
	}
	if n := counted.count() - before; n != 0 {
		t.Fatalf("100 reads of a current watch read the bucket %d times", n)
	}
	if _, err := gw.Add(ctx, 0.25); err != nil {
		t.Fatal(err)
	}
	if got := total(); got != 1 {
		t.Fatalf("own add not read back at once: %v", got)
	}
	if got, err := gw.On(ctx, day.AddDate(0, 0, 1)); err != nil || got.USD != 0 {
		t.Fatalf("a day with no spend: %+v, %v", got, err)
	}
}
