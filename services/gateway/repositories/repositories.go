// Package repositories keeps the configured repositories in the JetStream
// key-value bucket AWO_REPOSITORIES, which every gateway replica shares:
// each change is a fact every replica sees (the projector mirrors the
// bucket into the read store), and a repository is registered with the
// bucket's atomic create under an id derived from its normalised URL, so
// the same repository registered twice, on any replicas at once, is
// refused once it exists.
package repositories

import (
	"context"
	"crypto/sha1" //nolint:gosec // UUID version 5 is defined over SHA-1; nothing here relies on it being secure
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentworkorders/awo/pkg/bus"
	"github.com/agentworkorders/awo/pkg/readmodel"
	"github.com/agentworkorders/awo/pkg/repourl"
)

// Bucket is the key-value bucket of configured repositories, keyed by id.
const Bucket = "AWO_REPOSITORIES"

// Errors of the bucket operations.
var (
	ErrExists   = errors.New("repository already configured")
	ErrNotFound = errors.New("configured repository not found")
)

// namespace is the UUID namespace of repository ids (RFC 9562's URL
// namespace): ids are UUIDv5 of the normalised URL.
var namespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// IDFor is the id of the repository r: a UUID derived from its host, owner
// and name, so every spelling of one repository (a trailing ".git" or "/",
// https or ssh, the case of a github.com owner) has one id, and the
// bucket's create refuses it twice.
func IDFor(r repourl.Repo) string {
	key := r.Host + "/" + r.Owner + "/" + r.Name
	if r.Host == "github.com" { // GitHub names are case-insensitive
		key = strings.ToLower(key)
	}
	h := sha1.New() //nolint:gosec // see the import
	h.Write(namespace[:])
	h.Write([]byte(key))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Store is the shared bucket.
type Store struct {
	kv jetstream.KeyValue
}

// Open creates the bucket if missing (or updates it to r) and returns the
// store.
func Open(ctx context.Context, js jetstream.JetStream, r bus.Replication) (*Store, error) {
	kv, err := bus.EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Configured repositories by id (gateway; mirrored into the read store)",
		History:     1,
		Storage:     jetstream.FileStorage,
	}, r)
	if err != nil {
		return nil, err
	}
	return &Store{kv: bus.Retrying(kv)}, nil
}

// KV is the bucket, for the projector's watch.
func (s *Store) KV() jetstream.KeyValue { return s.kv }

// Create stores r under r.ID unless it is there: ErrExists. It returns the
// revision written.
func (s *Store) Create(ctx context.Context, r readmodel.ConfiguredRepository) (uint64, error) {
	val, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encoding configured repository %s: %w", r.ID, err)
	}
	rev, err := s.kv.Create(ctx, r.ID, val)
	switch {
	case errors.Is(err, jetstream.ErrKeyExists):
		return 0, fmt.Errorf("%w: %s", ErrExists, r.ID)
	case err != nil:
		return 0, fmt.Errorf("storing configured repository %s: %w", r.ID, err)
	}
	return rev, nil
}

// Get returns the repository id names, with its revision; ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (readmodel.ConfiguredRepository, error) {
	if !validKey(id) {
		return readmodel.ConfiguredRepository{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	entry, err := s.kv.Get(ctx, id)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return readmodel.ConfiguredRepository{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	case err != nil:
		return readmodel.ConfiguredRepository{}, fmt.Errorf("reading configured repository %s: %w", id, err)
	}
	return Decode(entry)
}

// Decode reads a bucket entry's value, with the entry's revision.
func Decode(entry jetstream.KeyValueEntry) (readmodel.ConfiguredRepository, error) {
	var r readmodel.ConfiguredRepository
	if err := json.Unmarshal(entry.Value(), &r); err != nil {
		return r, fmt.Errorf("decoding configured repository %s: %w", entry.Key(), err)
	}
	r.Revision = entry.Revision()
	return r, nil
}

// updateAttempts bounds the compare-and-set loop of Update: each retry
// means another replica changed the repository in between.
const updateAttempts = 5

// Update applies change to the repository id names and stores it, guarded
// by the revision it read, so concurrent updates on any replicas never
// lose one another; a change that cannot apply is returned as it is.
func (s *Store) Update(ctx context.Context, id string, change func(*readmodel.ConfiguredRepository) error) (readmodel.ConfiguredRepository, error) {
	for range updateAttempts {
		r, err := s.Get(ctx, id)
		if err != nil {
			return r, err
		}
		if err := change(&r); err != nil {
			return r, err
		}
		val, err := json.Marshal(r)
		if err != nil {
			return r, fmt.Errorf("encoding configured repository %s: %w", id, err)
		}
		rev, err := s.kv.Update(ctx, id, val, r.Revision)
		if err == nil {
			r.Revision = rev
			return r, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) { // the wrong-last-sequence answer
			return r, fmt.Errorf("updating configured repository %s: %w", id, err)
		}
	}
	return readmodel.ConfiguredRepository{}, fmt.Errorf("updating configured repository %s: it keeps changing under the update", id)
}

// Delete removes the repository id names; ErrNotFound. It returns a
// revision at or after the delete's, for a reader to wait for.
func (s *Store) Delete(ctx context.Context, id string) (uint64, error) {
	for range updateAttempts {
		r, err := s.Get(ctx, id)
		if err != nil {
			return 0, err
		}
		err = s.kv.Delete(ctx, id, jetstream.LastRevision(r.Revision))
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // changed in between: delete what is there now
		}
		if err != nil {
			return 0, fmt.Errorf("deleting configured repository %s: %w", id, err)
		}
		return s.lastRevision(ctx)
	}
	return 0, fmt.Errorf("deleting configured repository %s: it keeps changing under the delete", id)
}

// lastRevision is the bucket's newest revision (the delete marker's
// revision is not returned by Delete).
func (s *Store) lastRevision(ctx context.Context) (uint64, error) {
	st, err := s.kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the %s bucket's revision: %w", Bucket, err)
	}
	if kvs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		return kvs.StreamInfo().State.LastSeq, nil
	}
	return 0, nil
}

// validKey accepts what a bucket key may hold, so that a path parameter
// never reaches NATS as a subject with wildcards or dots.
func validKey(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c == '-') {
			return false
		}
	}
	return true
}
