package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamSettings are the knobs operators may want to turn; zero values take
// the defaults below.
//
// What a full stream does depends on what it holds. WORKORDERS_EVENTS is
// the source of truth, so it refuses new messages (DiscardNew): a publish
// fails with JetStream's "maximum bytes exceeded" (see IsStreamFull) and
// the gateway answers 507, where dropping the oldest facts would silently
// corrupt every work order that still needs them. WORKORDERS_COMMANDS is
// a work queue: refusing new commands (DiscardNew) makes the orchestrator
// retry the hand-off, where dropping old ones would lose steps in flight.
// WORKORDERS_LOGS and WORKORDERS_DLQ keep copies for people to read, so
// they drop their oldest entries (DiscardOld). WORKORDERS_CHECKPOINTS has
// no size limit: it keeps one bundle per work order for CheckpointsMaxAge
// (7 days), and neither dropping a live work order's bundle nor
// refusing a new one would be better than the disk it takes.
//
// While WORKORDERS_EVENTS is full, nothing that needs an event goes on,
// and nothing spins: the gateway answers 507 to creates, cancels and
// retries; the orchestrator cannot append its decision and a worker
// cannot record step.started or its step's result, so their handlers
// fail and Consume hands the message back with its backoff (1s doubling
// to a minute) until AWO_MAX_DELIVER deliveries, then dead-letters it
// with the reason (the DLQ discards old copies, so it still takes it).
// A step that ran but whose result could not be stored is run again on
// the next delivery. Work orders caught so stay in their last recorded
// state; once there is room again (AWO_EVENTS_MAX_BYTES raised, or old
// events past AWO_EVENTS_MAX_AGE), cancel and retry them.
type StreamSettings struct {
	EventsMaxAge   time.Duration // default 30 days
	EventsMaxBytes int64         // default 5 GiB
	LogsMaxAge     time.Duration // default 7 days
	LogsMaxBytes   int64         // default 1 GiB
	// CommandsMaxBytes bounds the queued step commands; default 256 MiB.
	CommandsMaxBytes int64
	DLQMaxAge        time.Duration // default 30 days
	DLQMaxBytes      int64         // default 256 MiB
	Replicas         int           // default 1
	// CheckpointsMaxAge is how long a sandbox checkpoint outlives the
	// step that saved it; default 7 days.
	CheckpointsMaxAge time.Duration
}

func (s StreamSettings) withDefaults() StreamSettings {
	if s.EventsMaxAge == 0 {
		s.EventsMaxAge = 30 * 24 * time.Hour
	}
	if s.LogsMaxAge == 0 {
		s.LogsMaxAge = 7 * 24 * time.Hour
	}
	if s.LogsMaxBytes == 0 {
		s.LogsMaxBytes = 1 << 30
	}
	if s.EventsMaxBytes == 0 {
		s.EventsMaxBytes = 5 << 30
	}
	if s.CommandsMaxBytes == 0 {
		s.CommandsMaxBytes = 256 << 20
	}
	if s.DLQMaxBytes == 0 {
		s.DLQMaxBytes = 256 << 20
	}
	if s.DLQMaxAge == 0 {
		s.DLQMaxAge = 30 * 24 * time.Hour
	}
	if s.Replicas == 0 {
		s.Replicas = 1
	}
	if s.CheckpointsMaxAge == 0 {
		s.CheckpointsMaxAge = 7 * 24 * time.Hour
	}
	return s
}

// StreamConfigs returns the four streams of ARCHITECTURE §3 and the
// checkpoint stream.
func StreamConfigs(s StreamSettings) []jetstream.StreamConfig {
	s = s.withDefaults()
	return []jetstream.StreamConfig{
		{
			Name:        StreamEvents,
			Description: "Work-order facts: the source of truth, replayable",
			Subjects:    []string{eventsPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      s.EventsMaxAge,
			MaxBytes:    s.EventsMaxBytes,
			Discard:     jetstream.DiscardNew,
			Duplicates:  2 * time.Minute,
			Replicas:    s.Replicas,
			AllowDirect: true,
		},
		{
			Name:        StreamCommands,
			Description: "Work-order commands: one durable work-queue consumer per service",
			Subjects:    []string{commandsPrefix + ">"},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			MaxBytes:    s.CommandsMaxBytes,
			Discard:     jetstream.DiscardNew,
			Duplicates:  2 * time.Minute,
			Replicas:    s.Replicas,
			AllowDirect: true,
		},
		{
			Name:        StreamLogs,
			Description: "Agent output lines per work order, for live tailing",
			Subjects:    []string{logsPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      s.LogsMaxAge,
			MaxBytes:    s.LogsMaxBytes,
			Discard:     jetstream.DiscardOld,
			Replicas:    s.Replicas,
			AllowDirect: true,
		},
		{
			Name:        StreamDLQ,
			Description: "Messages that could not be processed, with the reason",
			Subjects:    []string{dlqPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      s.DLQMaxAge,
			MaxBytes:    s.DLQMaxBytes,
			Discard:     jetstream.DiscardOld,
			Replicas:    s.Replicas,
		},
		{
			// The latest sandbox checkpoint of each work order, so any
			// executor can take over its next step: a small head message per
			// work order and the bundle's chunks in two slots, each subject
			// keeping only its last message (services/executor/checkpoint).
			Name:              StreamCheckpoints,
			Description:       "Latest sandbox checkpoint of each work order: a git bundle",
			Subjects:          []string{checkpointsPrefix + ">"},
			Retention:         jetstream.LimitsPolicy,
			Storage:           jetstream.FileStorage,
			MaxAge:            s.CheckpointsMaxAge,
			MaxMsgsPerSubject: 1,
			Replicas:          s.Replicas,
			AllowDirect:       true,
		},
	}
}

// EnsureStreams creates the streams or updates them to the current
// definition. Every service calls it at start so any of them can come up
// first.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, s StreamSettings) error {
	for _, cfg := range StreamConfigs(s) {
		_, err := js.CreateOrUpdateStream(ctx, cfg)
		if isResourcesExceeded(err) {
			return fmt.Errorf("ensuring stream %s: the NATS server cannot reserve its size limit of %d bytes: "+
				"JetStream reserves every stream's limit up front and the embedded server grants at most 75%% of the free disk "+
				"space of its data directory; free some space or lower AWO_EVENTS_MAX_BYTES, AWO_LOGS_MAX_BYTES, "+
				"AWO_COMMANDS_MAX_BYTES or AWO_DLQ_MAX_BYTES: %w", cfg.Name, cfg.MaxBytes, err)
		}
		if err != nil {
			return fmt.Errorf("ensuring stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
