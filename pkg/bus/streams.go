package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
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
	// Replication is every stream's replica count (default 1) and
	// placement.
	Replication
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
	if s.CheckpointsMaxAge == 0 {
		s.CheckpointsMaxAge = 7 * 24 * time.Hour
	}
	return s
}

// timersMaxBytes bounds WORKORDERS_TIMERS: a timer is a few hundred
// bytes, so this holds far more waiting steps than there are work orders.
const timersMaxBytes = 64 << 20

// StreamConfigs returns the four streams of docs/architecture.md, the
// checkpoint stream and the timer stream.
func StreamConfigs(s StreamSettings) []jetstream.StreamConfig {
	s = s.withDefaults()
	cfgs := []jetstream.StreamConfig{
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
			AllowDirect:       true,
		},
		timersStream(),
	}
	for i := range cfgs {
		cfgs[i] = s.Replication.stream(cfgs[i])
	}
	return cfgs
}

// timersStream holds the orchestrator's timers: one message per wake-up,
// redelivered by its one consumer (NakWithDelay) until its time, then
// acked, which removes it. Small: a message per waiting step.
func timersStream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamTimers,
		Description: "Durable timers of the orchestrator: a waiting step's wake-up",
		Subjects:    []string{AllTimers},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxBytes:    timersMaxBytes,
		Discard:     jetstream.DiscardNew,
		Duplicates:  2 * time.Minute,
		AllowDirect: true,
	}
}

// EnsureStreams creates the streams that are missing and updates those
// whose settings differ from the current definition. Every service calls it
// at start so any of them can come up first.
//
// A stream that already has its settings is left alone, without an update
// request: with NATS permissions (deploy/nats/awo.conf) the services may
// create the streams but only the admin may update them, so a service
// must not ask for an update it does not need.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, s StreamSettings) error {
	for _, cfg := range StreamConfigs(s) {
		err := ExplainReplication(ensureStream(ctx, js, cfg), "stream "+cfg.Name, s.Replication)
		if isResourcesExceeded(err) {
			return fmt.Errorf("ensuring stream %s: the NATS server cannot reserve its size limit of %d bytes: "+
				"JetStream reserves every stream's limit up front and the embedded server grants at most 75%% of the free disk "+
				"space of its data directory; free some space or lower AWO_EVENTS_MAX_BYTES, AWO_LOGS_MAX_BYTES, "+
				"AWO_COMMANDS_MAX_BYTES or AWO_DLQ_MAX_BYTES: %w", cfg.Name, cfg.MaxBytes, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	var st jetstream.Stream
	err := retryThroughElections(ctx, func(actx context.Context) error {
		var err error
		st, err = js.Stream(actx, want.Name)
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		err = retryThroughElections(ctx, func(actx context.Context) error {
			_, err := js.CreateStream(actx, want)
			return err
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ensureStream(ctx, js, want) // another service created it first
		}
		if err != nil {
			return fmt.Errorf("creating stream %s: %w", want.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("looking up stream %s: %w", want.Name, err)
	}
	differs, err := settingsDiffer(st.CachedInfo().Config, want)
	if err != nil {
		return fmt.Errorf("comparing stream %s with its definition: %w", want.Name, err)
	}
	if !differs {
		return nil
	}
	err = updateStream(ctx, js, st.CachedInfo().Config, want)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return fmt.Errorf("updating stream %s to its definition: %w", want.Name, err)
	}
	if err != nil {
		return fmt.Errorf("updating stream %s to its definition (with NATS permissions only the admin user may; "+
			"start one service as admin once, or edit the stream with the nats CLI): %w", want.Name, err)
	}
	return nil
}

// updateStream changes a stream in place. JetStream rescales a stream
// (AWO_STREAM_REPLICAS changed) and moves it (new placement tags) on a
// running cluster, but not both in one update: then the count changes
// first, where the stream is, and the move follows.
func updateStream(ctx context.Context, js jetstream.JetStream, have, want jetstream.StreamConfig) error {
	_, err := js.UpdateStream(ctx, want)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jsErrMoveAndScale {
		return err
	}
	scaled := want
	scaled.Placement = have.Placement
	if _, err := js.UpdateStream(ctx, scaled); err != nil {
		return err
	}
	// The server takes the move only once the rescale is done.
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		_, err = js.UpdateStream(ctx, want)
		if !errors.As(err, &apiErr) || apiErr.ErrorCode != jsErrReconfiguring {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// settingsDiffer reports whether have lacks any setting want makes: every
// field want sets (not zero) must be equal in have. Fields want leaves at
// zero take the server's defaults, which have shows filled in.
func settingsDiffer(have, want jetstream.StreamConfig) (bool, error) {
	var h, w map[string]any
	for _, x := range []struct {
		cfg jetstream.StreamConfig
		out *map[string]any
	}{{have, &h}, {want, &w}} {
		b, err := json.Marshal(x.cfg)
		if err != nil {
			return false, err
		}
		if err := json.Unmarshal(b, x.out); err != nil {
			return false, err
		}
	}
	return !covers(h, w), nil
}

// covers reports whether have holds every non-zero setting of want, looking
// into nested objects the same way: a placement's tags count, the cluster
// name the server filled in does not.
func covers(have, want any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(have, want)
	}
	h, _ := have.(map[string]any)
	for k, wv := range w {
		if !isZeroJSON(wv) && !covers(h[k], wv) {
			return false
		}
	}
	return true
}

func isZeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// retryThroughElections retries op's transient failures (retryTransient)
// until ctx's deadline, bound after bound: at start-up a service waits out
// a whole election (5-9 s measured, at times longer) rather than exiting on
// a lookup that no leader answered. Without a deadline, one bound.
//
// A create whose answer was lost and that did land comes back as
// ErrStreamNameAlreadyInUse, which ensureStream takes as "another service
// created it".
func retryThroughElections(ctx context.Context, op func(ctx context.Context) error) error {
	for {
		err := retryTransient(ctx, func(actx context.Context, _ bool) error { return op(actx) })
		if _, bounded := ctx.Deadline(); !bounded || !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			return err
		}
	}
}
