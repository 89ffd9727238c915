// Package spend counts what the agent runs of all work orders cost per UTC
// day, in a key-value bucket every executor adds to and every gateway
// reads: the day's total is what AWO_DAILY_BUDGET_USD is held against.
//
// Amounts are kept as whole nano-dollars (a decimal string with nine
// places in the bucket, then the tag of the add that wrote it, readable
// with `nats kv get AWO_SPEND day.…`), so
// adds from many executors in any order sum exactly; each add is a
// compare-and-set on the day's key, tried again when another add came
// first.
package spend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
)

// Bucket is the key-value bucket of the daily totals.
const Bucket = "AWO_SPEND"

// keep is how long a day's total stays in the bucket after its last add:
// long enough to look back over a month or two.
const keep = 90 * 24 * time.Hour

// Counter is the shared daily spend.
type Counter struct {
	kv  *bus.RetryingKV
	now func() time.Time
	// watched, once Watch has started it, answers Today and On from
	// memory (nil: they read the bucket).
	watched atomic.Pointer[bus.WatchedKV]
}

// Watch keeps the daily totals in memory from a watch of the bucket until
// ctx ends, for the reads on every request's way (the daily budget's check
// before a create, /health, each /metrics scrape): Today and On then read
// memory while the watch is current and the bucket otherwise. nc is the
// connection the counter's bucket was opened on. Adds still read the
// bucket: their compare-and-set needs the exact revision.
//
// A total read from memory can lag the bucket by the watch's delivery
// (well under a millisecond on one server), or by a few seconds after a
// stream leader change (see bus.WatchedKV). The budget is a soft cap that
// runs under way already overshoot; a few seconds' lag lets in at most the
// creates of those seconds, whose runs the executors check again.
func (c *Counter) Watch(ctx context.Context, nc *nats.Conn, log *slog.Logger) {
	c.watched.Store(bus.WatchKV(ctx, c.kv, nc, log, "day.>"))
}

func bucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "US dollars the agent runs of all work orders cost, per UTC day (day.YYYY-MM-DD)",
		TTL:         keep,
		History:     1,
		Storage:     jetstream.FileStorage,
	}
}

// Open creates the bucket if missing, or updates it to r, and returns the
// counter: the gateway's way, which owns the bucket as it owns
// AWO_IDEMPOTENCY.
func Open(ctx context.Context, js jetstream.JetStream, r bus.Replication) (*Counter, error) {
	kv, err := bus.EnsureKeyValue(ctx, js, bucketConfig(), r)
	if err != nil {
		return nil, err
	}
	return New(kv, nil), nil
}

// Bind returns the counter over the bucket as it is, creating it with r
// when missing: the executor's way, whose NATS user may create the bucket
// (the services start in any order) but not change it (deploy/nats/awo.conf).
func Bind(ctx context.Context, js jetstream.JetStream, r bus.Replication) (*Counter, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, r.KeyValue(bucketConfig()))
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = js.KeyValue(ctx, Bucket) // another service made it first
		}
	}
	if err != nil {
		return nil, bus.ExplainReplication(fmt.Errorf("opening the %s bucket: %w", Bucket, err), "bucket "+Bucket, r)
	}
	return New(kv, nil), nil
}

// New is a counter over kv; now is the clock that says which day it is
// (nil: time.Now).
func New(kv jetstream.KeyValue, now func() time.Time) *Counter {
	if now == nil {
		now = time.Now
	}
	return &Counter{kv: bus.Retrying(kv), now: now}
}

// Total is one day's spend.
type Total struct {
	Day string  // YYYY-MM-DD, UTC
	USD float64 // what that day's runs cost
}

// Day is the UTC day t falls on, as the bucket's keys name it.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Key is the bucket key of the UTC day t falls on.
func Key(t time.Time) string { return "day." + Day(t) }

// NextDay is the UTC midnight after t: when a day's budget opens again.
func NextDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// Watched reports whether Today and On read memory (a watch is current).
func (c *Counter) Watched() bool {
	w := c.watched.Load()
	return w != nil && w.Current()
}

// Today is today's spend so far (UTC); 0 before the day's first add.
func (c *Counter) Today(ctx context.Context) (Total, error) {
	return c.On(ctx, c.now())
}

// On is the spend of the UTC day t falls on.
func (c *Counter) On(ctx context.Context, t time.Time) (Total, error) {
	nanos, _, err := c.readAs(ctx, Key(t), c.watched.Load())
	if err != nil {
		return Total{}, err
	}
	return Total{Day: Day(t), USD: dollars(nanos)}, nil
}

// Now is the counter's clock: which day it counts.
func (c *Counter) Now() time.Time { return c.now() }

// Add adds usd to today's spend and returns the day's new total. An amount
// of 0 or less changes nothing (and returns the total as it stands).
func (c *Counter) Add(ctx context.Context, usd float64) (Total, error) {
	return c.AddOn(ctx, c.now(), usd)
}

// maxAttempts bounds the compare-and-set loop: each conflict means
// another add succeeded, so this many in a row is not contention any
// number of executors makes.
const maxAttempts = 1000

// AddOn adds usd to the spend of the UTC day t falls on.
func (c *Counter) AddOn(ctx context.Context, t time.Time, usd float64) (Total, error) {
	add, err := nanosOf(usd)
	if err != nil {
		return Total{}, err
	}
	key := Key(t)
	// The value carries this add's own tag: the KV retries a write whose
	// answer was lost by reading the key back and taking an exact match
	// for its own write, and two adds of the same amount onto the same
	// total must not take each other's write for their own (one add would
	// be lost).
	tag := rand.Text()[:16]
	for range maxAttempts {
		have, rev, err := c.read(ctx, key)
		if err != nil {
			return Total{}, err
		}
		if add == 0 {
			return Total{Day: Day(t), USD: dollars(have)}, nil
		}
		sum := saturatingAdd(have, add)
		val := []byte(format(sum) + " " + tag)
		var stored uint64
		if rev == 0 {
			stored, err = c.kv.Create(ctx, key, val)
		} else {
			stored, err = c.kv.Update(ctx, key, val, rev)
		}
		switch {
		case err == nil:
			if w := c.watched.Load(); w != nil {
				w.Note(key, val, stored, jetstream.KeyValuePut) // this gateway's next read sees it at once
			}
			return Total{Day: Day(t), USD: dollars(sum)}, nil
		case errors.Is(err, jetstream.ErrKeyExists):
			continue // another add came first: add to its total
		default:
			return Total{}, fmt.Errorf("adding $%s to the spend of %s: %w", format(add), Day(t), err)
		}
	}
	return Total{}, fmt.Errorf("adding $%s to the spend of %s: %d conflicting adds in a row", format(add), Day(t), maxAttempts)
}

// read is the nano-dollars under key and the key's revision (0: none
// yet), as the bucket holds them.
func (c *Counter) read(ctx context.Context, key string) (int64, uint64, error) {
	return c.readAs(ctx, key, nil)
}

// readAs is read through w, when set (its memory, while current).
func (c *Counter) readAs(ctx context.Context, key string, w *bus.WatchedKV) (int64, uint64, error) {
	var e jetstream.KeyValueEntry
	var err error
	if w != nil {
		e, err = w.Get(ctx, key)
	} else {
		e, err = c.kv.Get(ctx, key)
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("reading %s from the %s bucket: %w", key, Bucket, err)
	}
	n, err := parse(string(e.Value()))
	if err != nil {
		return 0, 0, fmt.Errorf("reading %s from the %s bucket: %w", key, Bucket, err)
	}
	return n, e.Revision(), nil
}

const nanosPerDollar = 1_000_000_000

// maxNanos is the most a day's total holds: the largest whole number of
// dollars an int64 of nano-dollars can take ($9,223,372,036). Real spend
// never comes near it; bogus costs (a misreported run, a wild price) could,
// and a total that wrapped around would turn negative and open the budget.
const maxNanos = math.MaxInt64 / nanosPerDollar * nanosPerDollar

// maxAdd is the most one run may add, in dollars: more is not a cost a run
// can have but a broken report, refused (the add fails and is logged).
const maxAdd = 1e9

// saturatingAdd is have + add, stopping at maxNanos: a total at the ceiling
// stays over any budget, the safe side, rather than wrap around.
func saturatingAdd(have, add int64) int64 {
	if add > maxNanos-have {
		return maxNanos
	}
	return have + add
}

// nanosOf is usd in whole nano-dollars; 0 for a negative amount (a run
// that reports no cost adds nothing).
func nanosOf(usd float64) (int64, error) {
	if math.IsNaN(usd) || math.IsInf(usd, 0) || usd > maxAdd {
		return 0, fmt.Errorf("adding to the spend: %v is not an amount of US dollars", usd)
	}
	if usd <= 0 {
		return 0, nil
	}
	return int64(math.Round(usd * nanosPerDollar)), nil
}

func dollars(nanos int64) float64 { return float64(nanos) / nanosPerDollar }

// format writes nano-dollars as a decimal with nine places: "0.000400000".
func format(nanos int64) string {
	return fmt.Sprintf("%d.%09d", nanos/nanosPerDollar, nanos%nanosPerDollar)
}

// parse reads what format wrote, followed by the tag of the add that
// wrote it.
func parse(s string) (int64, error) {
	s, _, _ = strings.Cut(s, " ")
	whole, frac, ok := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || !ok || len(frac) != 9 || w < 0 || w > maxNanos/nanosPerDollar {
		return 0, fmt.Errorf("%q is not a total in US dollars with nine decimal places", s)
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil || f < 0 || w == maxNanos/nanosPerDollar && f > 0 {
		return 0, fmt.Errorf("%q is not a total in US dollars with nine decimal places", s)
	}
	return w*nanosPerDollar + f, nil
}
