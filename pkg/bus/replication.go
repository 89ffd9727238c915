package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Replication is how many copies of a stream JetStream keeps and on which
// servers (AWO_STREAM_REPLICAS, AWO_STREAM_PLACEMENT_TAGS). Every stream,
// key-value bucket and object store awo creates takes the same one, so a
// cluster that loses a node loses none of them.
//
// Durable consumers are left at Replicas 0, which JetStream reads as "as
// many as the stream" and keeps so when the stream is scaled later; a
// fixed count would be refused on WORKORDERS_COMMANDS (a work queue's
// consumers must match the stream) as soon as the stream's count changed.
type Replication struct {
	Replicas      int      // 0 means 1
	PlacementTags []string // none: JetStream chooses
}

// Count is the number of replicas to ask for.
func (r Replication) Count() int { return max(r.Replicas, 1) }

// Placement is the placement to ask for; nil without tags, so a stream
// created before tags were configured is not moved for nothing.
func (r Replication) Placement() *jetstream.Placement {
	if len(r.PlacementTags) == 0 {
		return nil
	}
	return &jetstream.Placement{Tags: append([]string(nil), r.PlacementTags...)}
}

// KeyValue returns cfg with r's replicas and placement.
func (r Replication) KeyValue(cfg jetstream.KeyValueConfig) jetstream.KeyValueConfig {
	cfg.Replicas, cfg.Placement = r.Count(), r.Placement()
	return cfg
}

// ObjectStore returns cfg with r's replicas and placement.
func (r Replication) ObjectStore(cfg jetstream.ObjectStoreConfig) jetstream.ObjectStoreConfig {
	cfg.Replicas, cfg.Placement = r.Count(), r.Placement()
	return cfg
}

func (r Replication) stream(cfg jetstream.StreamConfig) jetstream.StreamConfig {
	cfg.Replicas, cfg.Placement = r.Count(), r.Placement()
	return cfg
}

// JetStream's error codes for a replica count or placement it cannot
// give (nats-server's jetstream_errors_generated.go).
const (
	jsErrReplicasNotSupported  = 10074 // replicas > 1 on a server that is not clustered
	jsErrReplicasNotUpdatable  = 10061 // an old server that cannot rescale
	jsErrNoSuitablePeers       = 10005 // not enough servers (with the tags)
	jsErrInsufficientResources = 10023
	jsErrMoveAndScale          = 10123 // new placement and new count in one update
	jsErrReconfiguring         = 10226 // an earlier rescale or move still under way
)

// ExplainReplication turns JetStream's refusal of a replica count or
// placement into an error that says which setting asked for what; other
// errors are returned unchanged. what names the stream or bucket.
func ExplainReplication(err error, what string, r Replication) error {
	var apiErr *jetstream.APIError
	if err == nil || !errors.As(err, &apiErr) {
		return err
	}
	tags := ""
	if len(r.PlacementTags) > 0 {
		tags = " with AWO_STREAM_PLACEMENT_TAGS=" + strings.Join(r.PlacementTags, ",")
	}
	switch apiErr.ErrorCode {
	case jsErrReplicasNotSupported:
		return fmt.Errorf("%s: AWO_STREAM_REPLICAS=%d but the NATS server is not clustered: a single server keeps one copy; "+
			"set AWO_STREAM_REPLICAS=1, or point NATS_URL at a JetStream cluster of at least %d servers: %w",
			what, r.Count(), r.Count(), err)
	case jsErrReplicasNotUpdatable:
		return fmt.Errorf("%s: the NATS server cannot change the replicas of an existing stream to AWO_STREAM_REPLICAS=%d; "+
			"upgrade the server, or back the stream up and recreate it: %w", what, r.Count(), err)
	case jsErrNoSuitablePeers, jsErrInsufficientResources:
		return fmt.Errorf("%s: AWO_STREAM_REPLICAS=%d%s but the NATS cluster has not that many servers with JetStream "+
			"(with those tags and room) up: lower AWO_STREAM_REPLICAS, check the tags, or bring servers back: %w",
			what, r.Count(), tags, err)
	}
	return err
}

// EnsureKeyValue creates the key-value bucket cfg describes, with r's
// replicas and placement, or updates it in place to them (an update of a
// bucket's own stream, which the gateway's NATS user may make).
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, r Replication) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, r.KeyValue(cfg))
	if err != nil {
		return nil, ExplainReplication(fmt.Errorf("opening the %s bucket: %w", cfg.Bucket, err), "bucket "+cfg.Bucket, r)
	}
	return kv, nil
}
