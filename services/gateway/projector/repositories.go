package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/services/gateway/repositories"
)

// Repositories mirrors the configured-repository bucket (AWO_REPOSITORIES,
// the source of truth every gateway replica writes) into the read store,
// so GET /repositories is served like the work orders and a Postgres
// user sees the rows in archon_configured_repositories. Every replica
// watches the bucket; the store keeps a row's newest revision, so
// replicas mirroring into one database never move a row back.
type Repositories struct {
	bucket *repositories.Store
	kv     jetstream.KeyValue
	store  readmodel.RepositoryStore
	log    *slog.Logger

	mu       sync.Mutex
	applied  uint64 // highest bucket revision mirrored
	ready    bool   // the bucket's contents at start are mirrored
	stopped  bool
	storeErr error
	advanced chan struct{} // closed and replaced on every change
}

// NewRepositories returns the mirror of bucket into store; call Run.
func NewRepositories(bucket *repositories.Store, store readmodel.RepositoryStore, log *slog.Logger) *Repositories {
	if log == nil {
		log = slog.Default()
	}
	return &Repositories{bucket: bucket, kv: bucket.KV(), store: store, log: log, advanced: make(chan struct{})}
}

// Run mirrors the bucket until ctx ends, then returns nil; a lost watch is
// started again with backoff.
func (p *Repositories) Run(ctx context.Context) error {
	defer p.update(func() { p.stopped = true })
	delay := minRetry
	for {
		err := p.watch(ctx, &delay)
		if ctx.Err() != nil {
			return nil
		}
		p.log.Warn("lost the watch of the configured repositories; watching again", "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			return nil
		}
		delay = min(delay*2, maxRetry)
	}
}

// watch mirrors every entry of the bucket, then each change. Once the
// entries present at start are mirrored, the store is reconciled with
// them (see reconcile).
func (p *Repositories) watch(ctx context.Context, delay *time.Duration) error {
	before, err := p.lastRevision(ctx)
	if err != nil {
		return err
	}
	w, err := p.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watching %s: %w", repositories.Bucket, err)
	}
	defer func() { _ = w.Stop() }()
	seen := map[string]bool{}
	initial := true
	for {
		var entry jetstream.KeyValueEntry
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("the watch ended")
			}
			entry = e
		}
		*delay = minRetry
		if entry == nil { // the contents at start are all delivered
			if err := p.retry(ctx, func() error { return p.reconcile(ctx, seen, before) }); err != nil {
				return err
			}
			initial = false
			p.update(func() { p.ready = true })
			p.log.Info("configured repositories mirrored", "repositories", len(seen), "revision", p.revision())
			continue
		}
		if initial && entry.Operation() == jetstream.KeyValuePut {
			seen[entry.Key()] = true
		}
		if err := p.retry(ctx, func() error { return p.apply(ctx, entry) }); err != nil {
			return err
		}
		p.update(func() { p.applied = max(p.applied, entry.Revision()) })
	}
}

func (p *Repositories) apply(ctx context.Context, entry jetstream.KeyValueEntry) error {
	if entry.Operation() != jetstream.KeyValuePut {
		return p.store.DeleteRepository(ctx, entry.Key(), entry.Revision())
	}
	r, err := repositories.Decode(entry)
	if err != nil {
		// Not written by a gateway: nothing to mirror, and retrying
		// cannot help.
		p.log.Error("skipping a configured repository that cannot be read", "key", entry.Key(), "err", err)
		return nil
	}
	return p.store.PutRepository(ctx, r)
}

// reconcile removes the rows mirrored from the bucket (revision > 0)
// that the bucket did not hold at start (revision at most before): they
// were deleted while no gateway watched. Rows that never came from the
// bucket (revision 0: Archon's own, in a database it used) are imported
// into it under their repository's id; the mirrored copy then replaces
// them. Every replica may import at once: the bucket's create lets one in.
func (p *Repositories) reconcile(ctx context.Context, seen map[string]bool, before uint64) error {
	rows, err := p.store.Repositories(ctx)
	if err != nil {
		return err
	}
	for _, r := range rows {
		switch {
		case seen[r.ID]:
		case r.Revision > 0:
			if err := p.store.DeleteRepository(ctx, r.ID, before+1); err != nil {
				return err
			}
		default:
			if err := p.importRow(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// importRow puts a row the bucket never held into it.
func (p *Repositories) importRow(ctx context.Context, r readmodel.ConfiguredRepository) error {
	repo, err := repourl.Parse(r.RepositoryURL, true)
	if err != nil {
		p.log.Warn("not importing a configured repository whose URL cannot be read; it stays as it is",
			"repository_id", r.ID, "err", err)
		return nil
	}
	old := r.ID
	r.ID = repositories.IDFor(repo)
	if _, err := p.bucket.Create(ctx, r); err != nil && !errors.Is(err, repositories.ErrExists) {
		return err
	}
	p.log.Info("imported a configured repository into the bucket", "old_id", old, "repository_id", r.ID,
		"repository_url", repourl.Mask(r.RepositoryURL))
	return nil
}

// retry runs fn until it succeeds or ctx ends, with backoff: skipping a
// change the store could have taken would leave the list wrong.
func (p *Repositories) retry(ctx context.Context, fn func() error) error {
	delay := minRetry
	for {
		err := fn()
		p.update(func() { p.storeErr = err })
		if err == nil {
			return nil
		}
		p.log.Error("read store failed to mirror a configured repository; retrying", "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		delay = min(delay*2, maxRetry)
	}
}

func (p *Repositories) lastRevision(ctx context.Context) (uint64, error) {
	st, err := p.kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the %s bucket's status: %w", repositories.Bucket, err)
	}
	if kvs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		return kvs.StreamInfo().State.LastSeq, nil
	}
	return 0, nil
}

// WaitFor returns once the store mirrors the bucket up to revision rev
// and everything it held at start; ctx's error if that takes too long,
// the store's error at once while the store fails, ErrStopped after Run.
func (p *Repositories) WaitFor(ctx context.Context, rev uint64) error {
	return waitFor(ctx, rev, "repository revision", "mirrored", func() progressView {
		p.mu.Lock()
		defer p.mu.Unlock()
		return progressView{applied: p.applied, ready: p.ready, stopped: p.stopped, storeErr: p.storeErr, advanced: p.advanced}
	})
}

func (p *Repositories) revision() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied
}

// update changes the state under the lock and wakes every waiter.
func (p *Repositories) update(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
	close(p.advanced)
	p.advanced = make(chan struct{})
}
