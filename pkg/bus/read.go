package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is a message read back from a stream.
type Message struct {
	Subject string
	Header  nats.Header
	Data    []byte
	Seq     uint64 // its stream sequence
	// Pending is how many messages on the subjects being read were stored
	// after this one when it was delivered: 0 means the reader has caught up.
	Pending uint64
}

// orderedAfter reads the messages on subjects stored after sequence after
// (0: from the start).
func orderedAfter(subjects []string, after uint64) jetstream.OrderedConsumerConfig {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	return cfg
}

// Read hands fn every message on subjects of stream stored so far after
// sequence after (0: from the start), oldest first. It reads through an
// ordered consumer made for this read and deleted after it, which is cheap
// and leaves no state on the server.
//
// On a cluster a read can meet a passing failure (IsTransient): a request
// lost while a leader is elected, or a pull that reaches the client's
// server before the interest of the consumer just made for it on another
// server has (nats: no responders). Such a step is asked again, within
// RetryBound, from where the read got to.
func (b *Bus) Read(ctx context.Context, stream string, subjects []string, after uint64, fn func(Message)) error {
	cfg := orderedAfter(subjects, after)
	cfg.InactiveThreshold = OneShotThreshold
	var cons jetstream.Consumer
	err := retryTransient(ctx, func(ctx context.Context, _ bool) (err error) {
		cons, err = b.JS.OrderedConsumer(ctx, stream, cfg)
		return err
	})
	if err != nil {
		return err
	}
	defer DropConsumer(b.JS, stream, cons)
	return readAll(ctx, cons, cons.CachedInfo().NumPending, fn)
}

// readAll reads pending messages from cons in batches, asking again after
// a transient failure: the ordered consumer carries on after the last
// message it delivered.
func readAll(ctx context.Context, cons jetstream.Consumer, pending uint64, fn func(Message)) error {
	deadline := time.Now().Add(RetryBound)
	wait := retryFirst
	for pending > 0 {
		n, left, err := readBatch(ctx, cons, int(min(pending, 256)), fn)
		if n > 0 {
			pending = left
		}
		switch {
		case err != nil && IsTransient(err) && ctx.Err() == nil && time.Now().Add(wait).Before(deadline):
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, retryMax)
		case err != nil:
			return err
		case n == 0:
			return fmt.Errorf("%d messages pending but none delivered", pending)
		}
	}
	return nil
}

// readBatch fetches up to n messages and hands each to fn. It returns how
// many arrived and how many were still pending after the last.
func readBatch(ctx context.Context, cons jetstream.Consumer, n int, fn func(Message)) (got int, left uint64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchContext(ctx))
	if err != nil {
		return 0, 0, err
	}
	for msg := range batch.Messages() {
		got++
		m, err := messageOf(msg)
		if err != nil {
			return got, 0, err
		}
		left = m.Pending
		fn(m)
	}
	return got, left, batch.Error()
}

func messageOf(msg jetstream.Msg) (Message, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return Message{}, err
	}
	return Message{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data(),
		Seq: meta.Sequence.Stream, Pending: meta.NumPending}, nil
}

// Follow delivers the messages on subjects of stream stored after sequence
// after, then each new one as it is stored, until ctx ends; the channel is
// closed then, or earlier if the consumer fails for good. Each call has its
// own ordered consumer, deleted when ctx ends, so followers are independent
// and leave no state on the server.
func (b *Bus) Follow(ctx context.Context, stream string, subjects []string, after uint64) (<-chan Message, error) {
	cons, err := b.JS.OrderedConsumer(ctx, stream, orderedAfter(subjects, after))
	if err != nil {
		return nil, err
	}
	it, err := cons.Messages()
	if err != nil {
		DropConsumer(b.JS, stream, cons)
		return nil, err
	}
	out := make(chan Message)
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		it.Stop() // unblocks Next
		DropConsumer(b.JS, stream, cons)
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
			m, err := messageOf(msg)
			if err != nil {
				continue
			}
			select {
			case out <- m:
			case <-stopped:
				return
			}
		}
	}()
	return out, nil
}

// LastSeq is the stream sequence of the newest message on subject; 0 when
// there is none.
func (b *Bus) LastSeq(ctx context.Context, stream, subject string) (uint64, error) {
	st, err := b.JS.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	msg, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return msg.Sequence, nil
}

// Stream is a stream opened for direct reads by sequence.
type Stream struct {
	s jetstream.Stream
}

// OpenStream looks the stream up once, so reads through it cost one round
// trip each.
func (b *Bus) OpenStream(ctx context.Context, name string) (*Stream, error) {
	s, err := b.JS.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("opening stream %s: %w", name, err)
	}
	return &Stream{s: s}, nil
}

// NextSeq is the sequence of the first message on subjects matching filter
// stored after sequence after; ok is false when there is none (yet, or any
// more under the stream's limits).
func (s *Stream) NextSeq(ctx context.Context, filter string, after uint64) (seq uint64, ok bool, err error) {
	msg, err := s.s.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(filter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return msg.Sequence, true, nil
}

// CreateOrUpdateConsumer makes or updates the durable consumer cfg
// describes on stream, for Consume.
func (b *Bus) CreateOrUpdateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	cons, err := b.JS.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating consumer %s on %s: %w", cfg.Durable, stream, err)
	}
	return cons, nil
}
