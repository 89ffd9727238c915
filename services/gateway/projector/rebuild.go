package projector

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/readmodel"
)

// TruncatableStore is a read store that can be emptied for a rebuild;
// readmodel.Memory and the Postgres store are.
type TruncatableStore interface {
	readmodel.Store
	// Truncate deletes every row and resets AppliedSequence to zero.
	Truncate(ctx context.Context) error
}

// RebuildOptions tune Rebuild; zero values take the defaults noted.
type RebuildOptions struct {
	// ProgressEvery is how many events pass between progress lines
	// (default 1000).
	ProgressEvery int
	// Rejections counts the events the store refuses; nil: not counted.
	Rejections Rejections
}

// RebuildStats is what a rebuild did.
type RebuildStats struct {
	Events  int // messages read from the stream
	Skipped int // of those, unknown, undecodable, unfoldable or rejected
	// Rejected counts the skipped events the store refused as data; each
	// was dead-lettered, as the projector does.
	Rejected int
	LastSeq  uint64        // stream sequence the read model now reflects
	Elapsed  time.Duration // wall time of the replay
}

// Rate is events per second over the whole rebuild.
func (s RebuildStats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Events) / s.Elapsed.Seconds()
}

// Rebuild empties store and replays WORKORDERS_EVENTS into it from the
// first sequence up to the last one present when it starts, logging
// progress. Events published meanwhile are left to the projector, which
// resumes after the store's AppliedSequence.
//
// An event the store refuses as data (readmodel.ErrRejected) is
// dead-lettered and skipped, as the projector does. Unlike the projector
// it does not retry a failing store: a rebuild is run
// by an operator (or at start), who is better served by a clear error and
// a rerun than by a process that hangs. Other projectors writing to the
// same store while it runs would race the truncation, so run it with the
// other gateways stopped.
func Rebuild(ctx context.Context, js jetstream.JetStream, store TruncatableStore, log *slog.Logger, o RebuildOptions) (RebuildStats, error) {
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 1000
	}
	if log == nil {
		log = slog.Default()
	}
	var stats RebuildStats
	start := time.Now()
	target, err := lastSequence(ctx, js)
	if err != nil {
		return stats, fmt.Errorf("rebuilding the read model: %w", err)
	}
	if err := store.Truncate(ctx); err != nil {
		return stats, fmt.Errorf("rebuilding the read model: emptying the store: %w", err)
	}
	log.Info("rebuilding the read model from the event stream", "stream", bus.StreamEvents, "up_to_seq", target)

	if target > 0 {
		if err := replay(ctx, js, store, log, target, o, start, &stats); err != nil {
			return stats, fmt.Errorf("rebuilding the read model (after %d events, at seq %d): %w", stats.Events, stats.LastSeq, err)
		}
	}
	stats.Elapsed = time.Since(start)
	log.Info("read model rebuilt", "events", stats.Events, "skipped", stats.Skipped, "rejected", stats.Rejected, "last_seq", stats.LastSeq,
		"elapsed", stats.Elapsed.Round(time.Millisecond).String(), "events_per_second", round(stats.Rate()))
	return stats, nil
}

func replay(ctx context.Context, js jetstream.JetStream, store readmodel.Store, log *slog.Logger,
	target uint64, o RebuildOptions, start time.Time, stats *RebuildStats) error {
	// Nothing pending at the start: every message up to target has been
	// deleted (age limit) or matches no event subject.
	idle := func() bool { return true }
	b := newBatch(js, store, log, o.Rejections, stats)
	return readEvents(ctx, js, 0, idle, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		seq := meta.Sequence.Stream
		stats.Events++
		stats.LastSeq = seq
		// NumPending 0 ends the replay even if target itself was deleted.
		done := seq >= target || meta.NumPending == 0
		if e, elog, ok := decode(log, msg, seq); ok {
			if err := b.add(ctx, msg, e, elog); err != nil {
				return true, err
			}
		} else {
			stats.Skipped++
		}
		if done {
			if err := b.flush(ctx); err != nil {
				return true, err
			}
		}
		if stats.Events%o.ProgressEvery == 0 {
			elapsed := time.Since(start)
			log.Info("rebuilding the read model", "events", stats.Events, "seq", seq, "up_to_seq", target,
				"events_per_second", round(float64(stats.Events)/elapsed.Seconds()))
		}
		return done, nil
	})
}

func round(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
