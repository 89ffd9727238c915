package logentry

import (
	"context"
	"fmt"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// StreamReader reads stored messages back from a stream; *bus.Bus is one.
type StreamReader interface {
	Read(ctx context.Context, stream string, subjects []string, after uint64, fn func(bus.Message)) error
	Follow(ctx context.Context, stream string, subjects []string, after uint64) (<-chan bus.Message, error)
	LastSeq(ctx context.Context, stream, subject string) (uint64, error)
}

// Delivery is an entry read from the stream and how many of the work
// order's entries were stored after it when it was delivered: 0 means the
// reader has caught up.
type Delivery struct {
	Entry   Entry
	Pending uint64
}

// decodeStored is the entry in m, with its Seq.
func decodeStored(m bus.Message) (Entry, error) {
	e, err := Decode(m.Data)
	e.Seq = m.Seq
	return e, err
}

// Read returns the entries of one work order stored so far, oldest first,
// each with its Seq. Entries that do not decode are skipped: one bad line
// must not hide the rest of a log.
func Read(ctx context.Context, r StreamReader, wo workorder.ID) ([]Entry, error) {
	var out []Entry
	err := r.Read(ctx, Stream, []string{Subject(wo)}, 0, func(m bus.Message) {
		if e, err := decodeStored(m); err == nil {
			out = append(out, e)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("reading the log of %s: %w", wo, err)
	}
	return out, nil
}

// Tail delivers the work order's entries stored after sequence after,
// then each new one as it is stored, until ctx ends; the channel is closed
// then, or earlier if the reading fails for good. Entries that do not
// decode are skipped.
func Tail(ctx context.Context, r StreamReader, wo workorder.ID, after uint64) (<-chan Delivery, error) {
	msgs, err := r.Follow(ctx, Stream, []string{Subject(wo)}, after)
	if err != nil {
		return nil, fmt.Errorf("tailing the log of %s: %w", wo, err)
	}
	out := make(chan Delivery)
	go func() {
		defer close(out)
		for m := range msgs {
			e, err := decodeStored(m)
			if err != nil {
				continue
			}
			select {
			case out <- Delivery{Entry: e, Pending: m.Pending}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// LastSeq is the stream sequence of the work order's newest entry; 0 when
// it has none.
func LastSeq(ctx context.Context, r StreamReader, wo workorder.ID) (uint64, error) {
	seq, err := r.LastSeq(ctx, Stream, Subject(wo))
	if err != nil {
		return 0, fmt.Errorf("finding the last log entry of %s: %w", wo, err)
	}
	return seq, nil
}
