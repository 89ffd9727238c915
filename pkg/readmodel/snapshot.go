package readmodel

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/klauspost/compress/zstd"
)

// A snapshot is Memory's rows and applied sequence in one blob, so a
// memory gateway can start from it and replay only the events after it
// instead of the whole stream (docs/operations.md, "Read-model snapshot").
//
// Layout: the magic, then the stamp (uncompressed, so it can be checked
// before the body is decoded), then the rows, zstd-compressed. A row is
// its creation sequence, its work order and its steps, every field in a
// fixed order: integers as varints, floats as their 8 bytes, times in
// time.Time's binary form, an optional value behind a presence byte. The
// body ends with the row count again, so a body cut short at a row
// boundary is caught as well as one cut mid-row.

// SnapshotFormat is the layout version; a snapshot in another is ignored.
// Bump it whenever the encoding below changes.
const SnapshotFormat = 1

var snapshotMagic = []byte("AWO-READMODEL\x00")

// ErrBadSnapshot wraps every reason a blob is not a snapshot this code
// can read.
var ErrBadSnapshot = errors.New("not a readable read-model snapshot")

// SnapshotStamp says what a snapshot reflects and who wrote it.
type SnapshotStamp struct {
	Format uint64
	// Build identifies the code whose fold rules made the rows; a snapshot
	// from another build is ignored (see the gateway's snapshot package).
	Build string
	// Stream and StreamCreated identify the event stream the rows were
	// folded from: a stream deleted and recreated has a new created time.
	Stream        string
	StreamCreated time.Time
	// Applied is the stream sequence the rows reflect; the replay resumes
	// after it.
	Applied uint64
	Rows    uint64
}

type snapshotRow struct {
	wo         WorkOrder
	steps      []StepRecord
	createdSeq uint64
}

// Snapshot encodes the store's rows with stamp's Build, Stream and
// StreamCreated, and returns the blob and the stamp it carries (Format,
// Applied and Rows filled in). Reads go on while it runs; Apply waits only
// while the rows are copied into the uncompressed buffer, not while they
// are compressed.
func (m *Memory) Snapshot(stamp SnapshotStamp) ([]byte, SnapshotStamp, error) {
	var body encoder
	err := m.exportRows(func(seq uint64, rows int) {
		stamp.Applied, stamp.Rows = seq, uint64(rows)
		body.b = make([]byte, 0, rows*2048)
	}, func(wo WorkOrder, steps []StepRecord, createdSeq uint64) error {
		body.uint(createdSeq)
		body.workOrder(wo)
		body.uint(uint64(len(steps)))
		for _, s := range steps {
			body.step(s)
		}
		return nil
	})
	if err != nil {
		return nil, stamp, fmt.Errorf("encoding the read-model snapshot: %w", err)
	}
	body.uint(stamp.Rows)
	stamp.Format = SnapshotFormat
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, stamp, fmt.Errorf("compressing the read-model snapshot: %w", err)
	}
	defer zw.Close()
	var out encoder
	out.b = append(out.b, snapshotMagic...)
	out.stamp(stamp)
	return zw.EncodeAll(body.b, out.b), stamp, nil
}

// ReadSnapshotStamp reads a snapshot's stamp without decoding its rows.
func ReadSnapshotStamp(data []byte) (SnapshotStamp, error) {
	s, _, err := splitSnapshot(data)
	return s, err
}

func splitSnapshot(data []byte) (SnapshotStamp, []byte, error) {
	if !bytes.HasPrefix(data, snapshotMagic) {
		return SnapshotStamp{}, nil, fmt.Errorf("%w: no snapshot header", ErrBadSnapshot)
	}
	d := decoder{b: data[len(snapshotMagic):]}
	s := d.stamp()
	if d.err != nil {
		return SnapshotStamp{}, nil, fmt.Errorf("%w: stamp: %w", ErrBadSnapshot, d.err)
	}
	return s, d.b, nil
}

// Restore fills the store, which must be empty, from a snapshot: its rows
// and its applied sequence, as the replay of the events up to that
// sequence would have left them. The caller checks the stamp first (right
// stream, same build). Nothing is changed when the blob cannot be decoded
// whole.
func (m *Memory) Restore(data []byte) (SnapshotStamp, error) {
	stamp, compressed, err := splitSnapshot(data)
	if err != nil {
		return stamp, err
	}
	if stamp.Format != SnapshotFormat {
		return stamp, fmt.Errorf("%w: format %d, this build reads %d", ErrBadSnapshot, stamp.Format, SnapshotFormat)
	}
	zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return stamp, fmt.Errorf("decompressing the read-model snapshot: %w", err)
	}
	defer zr.Close()
	body, err := zr.DecodeAll(compressed, nil)
	if err != nil {
		return stamp, fmt.Errorf("%w: body: %w", ErrBadSnapshot, err)
	}
	rows, err := decodeRows(body, stamp.Rows)
	if err != nil {
		return stamp, err
	}
	if err := m.importRows(stamp.Applied, rows); err != nil {
		return stamp, err
	}
	return stamp, nil
}

func decodeRows(body []byte, n uint64) ([]snapshotRow, error) {
	if n > uint64(len(body)) { // every row takes bytes: a lying count
		return nil, fmt.Errorf("%w: %d rows in %d bytes", ErrBadSnapshot, n, len(body))
	}
	d := decoder{b: body, strs: map[string]string{}}
	rows := make([]snapshotRow, n)
	for i := range rows {
		r := &rows[i]
		r.createdSeq = d.uint()
		r.wo = d.workOrder()
		ns := d.uint()
		if ns > uint64(len(d.b)) {
			return nil, fmt.Errorf("%w: row %d: %d steps in %d bytes", ErrBadSnapshot, i, ns, len(d.b))
		}
		r.steps = make([]StepRecord, ns)
		for j := range r.steps {
			r.steps[j] = d.step()
		}
		if d.err != nil {
			return nil, fmt.Errorf("%w: row %d: %w", ErrBadSnapshot, i, d.err)
		}
	}
	if end := d.uint(); d.err != nil || end != n || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: the body does not end after its %d rows", ErrBadSnapshot, n)
	}
	return rows, nil
}

func (e *encoder) stamp(s SnapshotStamp) {
	e.uint(s.Format)
	e.str(s.Build)
	e.str(s.Stream)
	e.time(s.StreamCreated)
	e.uint(s.Applied)
	e.uint(s.Rows)
}

func (d *decoder) stamp() SnapshotStamp {
	var s SnapshotStamp
	s.Format = d.uint()
	s.Build = d.str()
	s.Stream = d.str()
	s.StreamCreated = d.time()
	s.Applied = d.uint()
	s.Rows = d.uint()
	return s
}
