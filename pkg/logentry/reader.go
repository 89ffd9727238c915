package logentry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Delivery is an entry read from the stream and how many of the work
// order's entries were stored after it when it was delivered: 0 means the
// reader has caught up.
type Delivery struct {
	Entry   Entry
	Pending uint64
}

// consumerConfig reads one work order's entries stored after sequence after.
func consumerConfig(wo workorder.ID, after uint64) jetstream.OrderedConsumerConfig {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{Subject(wo)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	return cfg
}

// Read returns the entries of one work order stored so far, oldest first,
// each with its Seq. Entries that do not decode are skipped: one bad line
// must not hide the rest of a log.
func Read(ctx context.Context, js jetstream.JetStream, wo workorder.ID) ([]Entry, error) {
	cfg := consumerConfig(wo, 0)
	cfg.InactiveThreshold = bus.OneShotThreshold
	cons, err := js.OrderedConsumer(ctx, Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("reading the log of %s: %w", wo, err)
	}
	defer bus.DropConsumer(js, Stream, cons)
	var out []Entry
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		n, left, err := readBatch(ctx, cons, int(min(pending, 256)), func(e Entry) { out = append(out, e) })
		if err != nil {
			return nil, fmt.Errorf("reading the log of %s: %w", wo, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("reading the log of %s: %d entries pending but none delivered", wo, pending)
		}
		pending = left
	}
	return out, nil
}

// readBatch fetches up to n messages and hands each decodable entry to
// fn. It returns how many messages arrived and how many were still pending
// after the last.
func readBatch(ctx context.Context, cons jetstream.Consumer, n int, fn func(Entry)) (got int, left uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
	if err != nil {
		return 0, 0, err
	}
	for msg := range batch.Messages() {
		got++
		meta, err := msg.Metadata()
		if err != nil {
			return got, 0, err
		}
		left = meta.NumPending
		if e, err := Decode(msg.Data()); err == nil {
			e.Seq = meta.Sequence.Stream
			fn(e)
		}
	}
	return got, left, batch.Error()
}

// Tail delivers the work order's entries stored after sequence after,
// then each new one as it is stored, until ctx ends; the channel is closed
// then, or earlier if the consumer fails for good. Each call has its own
// ordered consumer, which leaves no state on the server.
func Tail(ctx context.Context, js jetstream.JetStream, wo workorder.ID, after uint64) (<-chan Delivery, error) {
	cons, err := js.OrderedConsumer(ctx, Stream, consumerConfig(wo, after))
	if err != nil {
		return nil, fmt.Errorf("tailing the log of %s: %w", wo, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("tailing the log of %s: %w", wo, err)
	}
	out := make(chan Delivery)
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		it.Stop() // unblocks Next
		bus.DropConsumer(js, Stream, cons)
		close(stopped)
	}()
	go func() {
		defer close(out)
		for {
			msg, err := it.Next()
			if err != nil {
				if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					// The ordered consumer recreates itself on its own;
					// an error here is final.
					it.Stop()
				}
				return
			}
			meta, err := msg.Metadata()
			if err != nil {
				continue
			}
			e, err := Decode(msg.Data())
			if err != nil {
				continue
			}
			e.Seq = meta.Sequence.Stream
			select {
			case out <- Delivery{Entry: e, Pending: meta.NumPending}:
			case <-stopped:
				return
			}
		}
	}()
	return out, nil
}

// LastSeq is the stream sequence of the work order's newest entry; 0 when
// it has none.
func LastSeq(ctx context.Context, js jetstream.JetStream, wo workorder.ID) (uint64, error) {
	st, err := js.Stream(ctx, Stream)
	if err != nil {
		return 0, fmt.Errorf("finding the last log entry of %s: %w", wo, err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, Subject(wo))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("finding the last log entry of %s: %w", wo, err)
	}
	return msg.Sequence, nil
}
