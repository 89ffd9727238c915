package readmodel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/klauspost/compress/s2"
	"golang.org/x/sync/errgroup"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// A snapshot is Memory's rows and applied sequence in one blob, so a
// memory gateway can start from it and replay only the events after it
// instead of the whole stream (docs/operations.md, "Read-model snapshot").
//
// Layout: the magic, then the stamp (uncompressed, so it can be checked
// before the body is decoded), then frames of up to frameRows rows, each
// its compressed length, the CRC-32C of its raw bytes and the raw bytes
// s2-compressed. Raw, a frame is its row count and its rows; a row is its
// creation sequence, id, repository, status and creation time (what Memory
// keeps beside a row's bytes) and the row as pack writes it, so a finished
// row goes out and comes back as the bytes Memory holds, never decoded.
// The frames' row counts must add up to the stamp's, so a blob cut short
// at a frame boundary is caught as well as one cut mid-frame.
//
// Why frames of s2 (bench figures in docs/performance.md): 20,000 rows of
// the history benchmark are 40 MB raw; s2 packs them into 16.6 MB in
// 126 ms and unpacks them in 43 ms, zstd's fastest level into 13.6 MB in
// 623 ms and 180 ms. The encode delays the snapshot's write (the rows
// are copied under the read lock and encoded after it, exportRows), and
// the decode is start-up time; the 22 % more bytes cost less than
// either. Frames keep the raw bytes in hand to one frame while encoding
// and decoding (100,000 rows are 200 MB raw) and let a second core
// compress while the first walks.

var errTruncated = errors.New("truncated")

// SnapshotFormat is the layout version; a snapshot in another is ignored.
// Bump it whenever the encoding below changes. The rows' packed bytes are
// pack's (memory_pack.go), whose layout a snapshot from another build
// never meets: the build is in the stamp. Format 1 carried every field
// again through a codec of its own.
const SnapshotFormat = 2

var snapshotMagic = []byte("AWO-READMODEL\x00")

// frameRows is how many rows a frame holds: about 2 MB raw.
const frameRows = 1000

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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

// snapshotRow is a row as a snapshot carries it: what Memory keeps beside
// a row's bytes, and the bytes as pack writes them (a running work order
// is packed for the snapshot, unpacked again on restore).
type snapshotRow struct {
	createdSeq uint64
	id         workorder.ID
	repo       string
	status     workorder.Status
	createdAt  time.Time
	packed     []byte
}

// SnapshotBlob is a snapshot as its parts (the header, then each frame),
// which are written out one after the other: joined, 100,000 rows would
// be one more 80 MB buffer, and its growth as much again in garbage.
type SnapshotBlob [][]byte

// Len is the snapshot's size in bytes.
func (b SnapshotBlob) Len() int {
	n := 0
	for _, p := range b {
		n += len(p)
	}
	return n
}

// Reader reads the snapshot from its first byte.
func (b SnapshotBlob) Reader() io.Reader {
	rs := make([]io.Reader, len(b))
	for i, p := range b {
		rs[i] = bytes.NewReader(p)
	}
	return io.MultiReader(rs...)
}

// Bytes is the snapshot in one slice.
func (b SnapshotBlob) Bytes() []byte { return bytes.Join(b, nil) }

// Snapshot encodes the store's rows with stamp's Build, Stream and
// StreamCreated, and returns the blob and the stamp it carries (Format,
// Applied and Rows filled in). It holds Memory's read lock while it walks
// the rows (reads go on; Apply waits), and compresses the frames on
// another goroutine meanwhile.
func (m *Memory) Snapshot(stamp SnapshotStamp) (SnapshotBlob, SnapshotStamp, error) {
	stamp.Format = SnapshotFormat
	frames := make(chan []byte, 2)
	out := make(chan SnapshotBlob, 1)
	go compressFrames(frames, out)
	var raw packer
	var inFrame uint64
	flush := func() {
		frames <- raw.b
		raw, inFrame = packer{b: make([]byte, 1, 2<<20)}, 0
	}
	err := m.exportRows(func(seq uint64, rows int) {
		stamp.Applied, stamp.Rows = seq, uint64(rows)
		head := packer{b: append([]byte(nil), snapshotMagic...)}
		head.stamp(stamp)
		frames <- head.b // the first "frame" is the header, sent as it is
		raw = packer{b: make([]byte, 1, 2<<20)}
	}, func(r snapshotRow) error {
		raw.uvarint(r.createdSeq)
		raw.str(string(r.id))
		raw.str(r.repo)
		raw.str(string(r.status))
		raw.time(r.createdAt)
		raw.uvarint(uint64(len(r.packed)))
		raw.b = append(raw.b, r.packed...)
		if inFrame++; inFrame == frameRows {
			raw.b = setFrameCount(raw.b, inFrame)
			flush()
		}
		return nil
	})
	if inFrame > 0 {
		raw.b = setFrameCount(raw.b, inFrame)
		frames <- raw.b
	}
	close(frames)
	blob := <-out
	if err != nil {
		return nil, stamp, fmt.Errorf("encoding the read-model snapshot: %w", err)
	}
	return blob, stamp, nil
}

// setFrameCount puts a raw frame's row count in front of its rows: the
// frame was started with one byte of room, which a count above 127 needs
// more than, so the rows move then (once per frame, not per row).
func setFrameCount(b []byte, n uint64) []byte {
	var c [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(c[:], n)
	if k == 1 {
		b[0] = c[0]
		return b
	}
	return append(c[:k:k], b[1:]...)
}

// compressFrames keeps the first message of frames as it is (the header)
// and every later one as a compressed frame, and sends the blob on out
// once frames is closed.
func compressFrames(frames <-chan []byte, out chan<- SnapshotBlob) {
	var blob SnapshotBlob
	for raw := range frames {
		if blob == nil {
			blob = SnapshotBlob{raw}
			continue
		}
		packed := s2.Encode(nil, raw)
		f := make([]byte, 0, binary.MaxVarintLen64+4+len(packed))
		f = binary.AppendUvarint(f, uint64(len(packed)))
		f = binary.LittleEndian.AppendUint32(f, crc32.Checksum(raw, castagnoli))
		blob = append(blob, append(f, packed...))
	}
	out <- blob
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
	d := unpacker{b: data[len(snapshotMagic):]}
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
	stamp, frames, err := splitSnapshot(data)
	if err != nil {
		return stamp, err
	}
	if stamp.Format != SnapshotFormat {
		return stamp, fmt.Errorf("%w: format %d, this build reads %d", ErrBadSnapshot, stamp.Format, SnapshotFormat)
	}
	rows, err := decodeAll(frames, stamp.Rows)
	if err != nil {
		return stamp, err
	}
	if err := m.importRows(stamp.Applied, rows); err != nil {
		return stamp, err
	}
	return stamp, nil
}

// decodeAll is decodeFrames with the collector off. Everything decoded
// stays live, so a collection during the decode frees nothing and only
// marks a growing heap, three or four times over: off, 100,000 synthetic
// rows restored in 232 CPU-ms instead of 499 (BenchmarkSnapshot).
// GOMEMLIMIT, when set, still holds. It is back on before the rows are
// put in: unpacking a running row leaves garbage behind.
func decodeAll(frames []byte, n uint64) ([]snapshotRow, error) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	return decodeFrames(frames, n)
}

// decodeFrames decodes the frames, on as many goroutines as there are
// cores (each frame stands alone), into n rows in their order.
func decodeFrames(data []byte, n uint64) ([]snapshotRow, error) {
	if n > uint64(len(data)) { // every row takes bytes: a lying count
		return nil, fmt.Errorf("%w: %d rows in %d bytes", ErrBadSnapshot, n, len(data))
	}
	var frames []frame
	for len(data) > 0 {
		size, k := binary.Uvarint(data)
		if k <= 0 || size > uint64(len(data)-k) || len(data)-k-int(size) < 4 {
			return nil, fmt.Errorf("%w: frame %d: %w", ErrBadSnapshot, len(frames), errTruncated)
		}
		frames = append(frames, frame{sum: binary.LittleEndian.Uint32(data[k:]), packed: data[k+4 : k+4+int(size)]})
		data = data[k+4+int(size):]
	}
	if uint64(len(frames)) > n/frameRows+1 {
		return nil, fmt.Errorf("%w: %d frames for %d rows", ErrBadSnapshot, len(frames), n)
	}
	var g errgroup.Group
	next := make(chan int, len(frames))
	for i := range frames {
		next <- i
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(frames)) {
		g.Go(func() error {
			var raw []byte
			strs := map[string]string{}
			for i := range next {
				if err := frames[i].decode(&raw, n, strs); err != nil {
					return fmt.Errorf("%w: frame %d: %w", ErrBadSnapshot, i, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	rows := make([]snapshotRow, 0, n)
	for _, f := range frames {
		if uint64(len(rows)+len(f.rows)) > n {
			break
		}
		rows = append(rows, f.rows...)
	}
	if uint64(len(rows)) != n || len(rows) != sumRows(frames) {
		return nil, fmt.Errorf("%w: %d rows, the stamp says %d", ErrBadSnapshot, sumRows(frames), n)
	}
	return rows, nil
}

type frame struct {
	sum    uint32
	packed []byte
	rows   []snapshotRow
}

func sumRows(frames []frame) int {
	n := 0
	for _, f := range frames {
		n += len(f.rows)
	}
	return n
}

// decode unpacks f into *raw (a buffer reused across frames), checks it
// and decodes its rows, at most max.
func (f *frame) decode(raw *[]byte, max uint64, strs map[string]string) error {
	var err error
	if *raw, err = s2.Decode((*raw)[:cap(*raw)], f.packed); err != nil {
		return err
	}
	if crc32.Checksum(*raw, castagnoli) != f.sum {
		return errors.New("checksum mismatch")
	}
	f.rows, err = decodeFrame(*raw, nil, max, strs)
	return err
}

// decodeFrame appends the rows of one raw frame to rows, refusing to go
// past max rows in all. The decoded rows share no memory with raw.
func decodeFrame(raw []byte, rows []snapshotRow, max uint64, strs map[string]string) ([]snapshotRow, error) {
	d := unpacker{b: raw}
	count := d.uvarint()
	if d.err != nil || count > max-uint64(len(rows)) {
		return nil, fmt.Errorf("%d rows more than the stamp's %d", count, max)
	}
	// The few values many rows repeat (repository, status) are kept once.
	common := func(b []byte) string {
		if s, ok := strs[string(b)]; ok {
			return s
		}
		s := string(b)
		if len(strs) < 4096 {
			strs[s] = s
		}
		return s
	}
	for range count {
		var r snapshotRow
		r.createdSeq = d.uvarint()
		r.id = workorder.ID(d.str())
		r.repo = common(d.bytes(d.length()))
		r.status = workorder.Status(common(d.bytes(d.length())))
		r.createdAt = d.time()
		r.packed = bytes.Clone(d.bytes(d.length()))
		if d.err != nil {
			return nil, fmt.Errorf("row %d: %w", len(rows), d.err)
		}
		rows = append(rows, r)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d bytes after its %d rows", len(d.b), count)
	}
	return rows, nil
}

func (w *packer) stamp(s SnapshotStamp) {
	w.uvarint(s.Format)
	w.str(s.Build)
	w.str(s.Stream)
	w.time(s.StreamCreated)
	w.uvarint(s.Applied)
	w.uvarint(s.Rows)
}

func (r *unpacker) stamp() SnapshotStamp {
	var s SnapshotStamp
	s.Format = r.uvarint()
	s.Build = r.str()
	s.Stream = r.str()
	s.StreamCreated = r.time()
	s.Applied = r.uvarint()
	s.Rows = r.uvarint()
	return s
}
