// Package snapshot keeps a snapshot of the memory read model in a
// JetStream object store, so a memory gateway starts by loading it and
// replays only the events after it instead of the whole stream
// (docs/operations.md, "Read-model snapshot").
//
// A snapshot is a pure function of a prefix of the event stream and of
// the fold rules, so every gateway replica may write the same object:
// the last writer wins and any version is right for its sequence. The
// object store writes the chunks under a fresh name first and points the
// object's meta entry at them last, and Get checks the chunks' digest, so
// a put cut short is never read as the object; a read overlapping a put
// may fail its digest, which is only a full replay.
package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/readmodel"
)

// Object is the snapshot's name in the bucket.
const Object = "memory"

// ReplayedMuch is how long a start-up replay must be for the keeper to
// write a snapshot as soon as the projector has caught up.
const ReplayedMuch = 10_000

// maxSize bounds the buffer a load allocates from the object's own word:
// 100,000 work orders are 83 MB.
const maxSize = 8 << 30

// maxAge is how long the bucket keeps what is written to it.
const maxAge = 7 * 24 * time.Hour

// writeTimeout bounds one write, the one at shutdown included.
const writeTimeout = 30 * time.Second

// Options configure a Keeper.
type Options struct {
	// Every is how many applied events apart snapshots are written.
	Every uint64
	// Build identifies the fold rules; "" takes BuildID().
	Build string
	// After is how long a start-up replay must be for a snapshot to be
	// written once it has caught up; 0 takes ReplayedMuch.
	After uint64
}

// BuildID identifies the code that folds the rows: the release version
// and the commit it was built from, marked when the tree had changes.
//
// Why the build and not a fold-version constant: a constant is right
// only while every change to Fold remembers to bump it, and a forgotten
// bump serves wrong rows until the next bump; the build costs one full
// replay per upgrade, after which the new build writes its own snapshot.
// A build without version-control stamps (go test, go run outside a
// checkout) gets the release version alone.
func BuildID() string {
	id := app.Version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return id
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		id += " " + rev
		if modified == "true" {
			id += "+dirty"
		}
	}
	return id
}

// Want is what a snapshot must match to be loaded.
type Want struct {
	Build         string
	Stream        string
	StreamCreated time.Time
	LastSeq       uint64 // the stream's last sequence now
}

// Check says why a snapshot with stamp s cannot stand in for the replay
// of the stream w describes, or nil when it can.
func Check(s readmodel.SnapshotStamp, w Want) error {
	switch {
	case s.Format != readmodel.SnapshotFormat:
		return fmt.Errorf("written in format %d, this build reads format %d", s.Format, readmodel.SnapshotFormat)
	case s.Build != w.Build:
		return fmt.Errorf("written by build %q, this is build %q (its fold rules may differ)", s.Build, w.Build)
	case s.Stream != w.Stream:
		return fmt.Errorf("folded from stream %q, not %s", s.Stream, w.Stream)
	case !s.StreamCreated.Equal(w.StreamCreated):
		return fmt.Errorf("folded from a stream %s created at %s, but the stream now was created at %s (deleted and recreated)",
			s.Stream, s.StreamCreated.UTC().Format(time.RFC3339Nano), w.StreamCreated.UTC().Format(time.RFC3339Nano))
	case s.Applied > w.LastSeq:
		return fmt.Errorf("reflects the stream up to sequence %d, but the stream ends at %d", s.Applied, w.LastSeq)
	}
	return nil
}

// Keeper loads and writes the snapshot of one memory store.
type Keeper struct {
	js    jetstream.JetStream
	obs   jetstream.ObjectStore
	mem   *readmodel.Memory
	log   *slog.Logger
	every uint64
	after uint64
	build string
	// written is the applied sequence of the last snapshot loaded or
	// written; a write at shutdown happens only past it.
	written uint64
}

// Open opens (creating when missing) the snapshot bucket with r's
// replicas and placement.
func Open(ctx context.Context, js jetstream.JetStream, r bus.Replication, mem *readmodel.Memory, log *slog.Logger, o Options) (*Keeper, error) {
	cfg := r.ObjectStore(jetstream.ObjectStoreConfig{
		Bucket:      bus.ReadModelSnapshots,
		Description: "Snapshots of the gateways' memory read model; safe to delete (the next start replays the whole stream)",
		Storage:     jetstream.FileStorage,
		// A put killed midway (SIGKILL during the write at stop) leaves
		// chunks no object points at, which no later put removes; they
		// age out. A snapshot not rewritten for as long (a gateway idle
		// for a week) ages out too, which costs one full replay.
		TTL: maxAge,
	})
	obs, err := js.CreateOrUpdateObjectStore(ctx, cfg)
	if err != nil {
		return nil, bus.ExplainReplication(fmt.Errorf("opening the %s object store: %w", bus.ReadModelSnapshots, err),
			"bucket "+bus.ReadModelSnapshots, r)
	}
	if log == nil {
		log = slog.Default()
	}
	if o.Build == "" {
		o.Build = BuildID()
	}
	if o.After == 0 {
		o.After = ReplayedMuch
	}
	return &Keeper{js: js, obs: obs, mem: mem, log: log, every: o.Every, after: o.After, build: o.Build}, nil
}

// Load fills the store, which must be empty, from the snapshot when there
// is one that fits the stream and this build, and says whether it did.
// Anything wrong is logged with its reason and leaves the store empty, for
// the projector's full replay: a snapshot never stops a start.
func (k *Keeper) Load(ctx context.Context) bool {
	started := time.Now()
	data, err := k.read(ctx)
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		k.log.Info("no read-model snapshot; replaying the whole event stream", "bucket", bus.ReadModelSnapshots)
		return false
	case err != nil:
		k.ignore("reading it failed", err)
		return false
	}
	size := len(data)
	stamp, err := readmodel.ReadSnapshotStamp(data)
	if err != nil {
		k.ignore("it is corrupt", err)
		return false
	}
	want, err := k.want(ctx)
	if err != nil {
		k.ignore("the event stream could not be read", err)
		return false
	}
	if err := Check(stamp, want); err != nil {
		k.ignore("it does not fit", err)
		return false
	}
	if _, err := k.mem.Restore(data); err != nil {
		why := "it is corrupt"
		if !errors.Is(err, readmodel.ErrBadSnapshot) {
			why = "the read model could not take it"
		}
		k.ignore(why, err)
		return false
	}
	k.written = stamp.Applied
	// The blob and the decode's scraps are garbage now, as the decoded
	// events of a full replay are when the projector hands that memory
	// back (projector.releaseAfter): the same for a start from here.
	data = nil
	debug.FreeOSMemory()
	k.log.Info("read model loaded from its snapshot; replaying the events after it", "bucket", bus.ReadModelSnapshots,
		"applied_seq", stamp.Applied, "rows", stamp.Rows, "bytes", size, "stream_last_seq", want.LastSeq,
		"took", time.Since(started).Round(time.Millisecond).String())
	return true
}

// read reads the object into a buffer of its size: 100,000 rows are 80 MB,
// which a growing buffer would copy and leave behind as much again. The
// read goes to the end, where the object store checks the digest.
func (k *Keeper) read(ctx context.Context) ([]byte, error) {
	r, err := k.obs.Get(ctx, Object)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	info, err := r.Info()
	if err != nil {
		return nil, err
	}
	if info.Size > maxSize {
		return nil, fmt.Errorf("the object says it holds %d bytes, more than a snapshot can", info.Size)
	}
	buf := bytes.NewBuffer(make([]byte, 0, info.Size+bytes.MinRead))
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (k *Keeper) ignore(why string, err error) {
	k.log.Warn("ignoring the read-model snapshot ("+why+"); replaying the whole event stream",
		"bucket", bus.ReadModelSnapshots, "object", Object, "err", err)
}

func (k *Keeper) want(ctx context.Context) (Want, error) {
	st, err := k.js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return Want{}, fmt.Errorf("looking up stream %s: %w", bus.StreamEvents, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return Want{}, fmt.Errorf("reading the state of stream %s: %w", bus.StreamEvents, err)
	}
	return Want{Build: k.build, Stream: bus.StreamEvents, StreamCreated: info.Created, LastSeq: info.State.LastSeq}, nil
}

// Write stores a snapshot of the store as it is now, unless the bucket
// already holds one of this build and stream at or past its sequence
// (another replica's).
func (k *Keeper) Write(ctx context.Context) error {
	started := time.Now()
	want, err := k.want(ctx)
	if err != nil {
		return fmt.Errorf("writing the read-model snapshot: %w", err)
	}
	data, stamp, err := k.mem.Snapshot(readmodel.SnapshotStamp{Build: k.build, Stream: want.Stream, StreamCreated: want.StreamCreated})
	if err != nil {
		return err
	}
	encoded := time.Since(started)
	if k.newerStored(ctx, stamp) {
		k.written = stamp.Applied
		return nil
	}
	meta := jetstream.ObjectMeta{
		Name:        Object,
		Description: "memory read model at " + bus.StreamEvents + " sequence " + strconv.FormatUint(stamp.Applied, 10),
		Metadata: map[string]string{
			"build": stamp.Build, "applied_seq": strconv.FormatUint(stamp.Applied, 10),
			"format": strconv.FormatUint(stamp.Format, 10), "stream_created": stamp.StreamCreated.UTC().Format(time.RFC3339Nano),
		},
	}
	if _, err := k.obs.Put(ctx, meta, data.Reader()); err != nil {
		return fmt.Errorf("writing the read-model snapshot to %s: %w", bus.ReadModelSnapshots, err)
	}
	k.written = stamp.Applied
	k.log.Info("read-model snapshot written", "bucket", bus.ReadModelSnapshots, "applied_seq", stamp.Applied,
		"rows", stamp.Rows, "bytes", data.Len(), "encode", encoded.Round(time.Millisecond).String(),
		"took", time.Since(started).Round(time.Millisecond).String())
	return nil
}

// newerStored reports whether the bucket's snapshot already covers s:
// same build and stream, at or past its sequence. Its metadata says so
// without reading the chunks.
func (k *Keeper) newerStored(ctx context.Context, s readmodel.SnapshotStamp) bool {
	info, err := k.obs.GetInfo(ctx, Object)
	if err != nil || info.Metadata == nil {
		return false
	}
	applied, err := strconv.ParseUint(info.Metadata["applied_seq"], 10, 64)
	return err == nil && applied >= s.Applied && info.Metadata["build"] == s.Build &&
		info.Metadata["format"] == strconv.FormatUint(s.Format, 10) &&
		info.Metadata["stream_created"] == s.StreamCreated.UTC().Format(time.RFC3339Nano)
}

// Progress is the projection a Keeper follows: the projector.
type Progress interface {
	// WaitFor returns nil once the projection has caught up with the
	// stream as it was at start and reached seq, an error once it stops.
	WaitFor(ctx context.Context, seq uint64) error
}

// Run writes snapshots while p folds into the store: once the start-up
// replay has caught up, when it replayed more than Options.After events;
// then every Every events; and, when ctx ends, once more if the store has
// moved since the last one. A failed write is logged and retried at the
// next of those points; it never stops the gateway.
func (k *Keeper) Run(ctx context.Context, p Progress) {
	if k.every > 0 && p.WaitFor(ctx, 0) == nil {
		if k.applied() >= k.written+k.after {
			k.write(ctx)
		}
		next := k.applied() + k.every
		for p.WaitFor(ctx, next) == nil {
			k.write(ctx)
			next = k.applied() + k.every
		}
	}
	if k.applied() > k.written {
		k.write(ctx)
	}
}

// write writes a snapshot and logs a failure. A stop does not cut a write
// short: throwing away a nearly finished snapshot only to encode it again
// for the write at stop would make the stop longer. writeTimeout bounds it.
func (k *Keeper) write(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := k.Write(ctx); err != nil {
		k.log.Warn("could not write the read-model snapshot; the next start replays more of the stream", "err", err)
	}
}

func (k *Keeper) applied() uint64 {
	seq, _ := k.mem.AppliedSequence(context.Background())
	return seq
}
