package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamSettings are the knobs operators may want to turn; zero values take
// the defaults below.
type StreamSettings struct {
	EventsMaxAge time.Duration // default 30 days
	LogsMaxAge   time.Duration // default 7 days
	LogsMaxBytes int64         // default 1 GiB
	DLQMaxAge    time.Duration // default 30 days
	Replicas     int           // default 1
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
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensuring stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
