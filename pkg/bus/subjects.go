// Package bus is the JetStream plumbing every service shares: stream
// definitions, subjects, publishing with de-duplication and optimistic
// concurrency, reading a work order's history, and the one consumer wrapper
// that owns the ack / nak / term decision.
package bus

import (
	"strconv"
	"strings"

	"github.com/agentworkorders/awo/pkg/events"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// Stream names (docs/architecture.md, "Streams").
const (
	StreamEvents   = "WORKORDERS_EVENTS"
	StreamCommands = "WORKORDERS_COMMANDS"
	StreamLogs     = "WORKORDERS_LOGS"
	StreamDLQ      = "WORKORDERS_DLQ"
	// StreamCheckpoints is not one of the streams of docs/architecture.md: it holds sandbox
	// checkpoints, not messages (see StreamConfigs).
	StreamCheckpoints = "WORKORDERS_CHECKPOINTS"
	// StreamTimers holds the orchestrator's durable timers (a waiting
	// step's wake-up): a work queue its one consumer redelivers until each
	// timer's time (see docs/parking.md).
	StreamTimers = "WORKORDERS_TIMERS"

	// ReadModelSnapshots is the object store bucket where a gateway with
	// the memory read model keeps a snapshot of it, so its next start
	// replays only the events after it (services/gateway/snapshot).
	ReadModelSnapshots = "AWO_READMODEL_SNAPSHOTS"

	eventsPrefix   = "workorders.events."
	commandsPrefix = "workorders.commands."
	logsPrefix     = "workorders.logs."
	dlqPrefix      = "workorders.dlq."

	checkpointsPrefix = "workorders.checkpoints."
	timersPrefix      = "workorders.timers."
)

// TimerSubject is where the timers of work order wo are set:
// workorders.timers.<woID>.
func TimerSubject(wo workorder.ID) string { return timersPrefix + string(wo) }

// AllTimers matches every timer of every work order.
const AllTimers = timersPrefix + ">"

// CheckpointSubject holds the head of work order wo's latest checkpoint:
// workorders.checkpoints.<woID>.
func CheckpointSubject(wo workorder.ID) string { return checkpointsPrefix + string(wo) }

// CheckpointChunkSubject holds chunk n of the bundle in one of the work
// order's two slots: workorders.checkpoints.<woID>.<slot>.<n>.
func CheckpointChunkSubject(wo workorder.ID, slot string, n int) string {
	return checkpointsPrefix + string(wo) + "." + slot + "." + strconv.Itoa(n)
}

// EventSubject is where an event of type typ about work order wo is stored:
// workorders.events.<woID>.<short type>, e.g. ...wo-1a2b3c4d.step.completed.
func EventSubject(wo workorder.ID, typ string) string {
	return eventsPrefix + string(wo) + "." + events.ShortName(typ)
}

// WorkOrderFilter matches every event of one work order.
func WorkOrderFilter(wo workorder.ID) string { return eventsPrefix + string(wo) + ".>" }

// TypeFilter matches the events of type typ of every work order.
func TypeFilter(typ string) string { return eventsPrefix + "*." + events.ShortName(typ) }

// AllEvents matches every event of every work order.
const AllEvents = eventsPrefix + ">"

// CommandSubject is workorders.commands.<service>.<name>: a command
// named name for the service that takes it.
func CommandSubject(service, name string) string {
	return commandsPrefix + service + "." + name
}

// CommandFilter matches every command for one service.
func CommandFilter(service string) string { return commandsPrefix + service + ".>" }

// LogSubject carries a work order's agent output lines.
func LogSubject(wo workorder.ID) string { return logsPrefix + string(wo) }

// DLQSubject is where a message that could not be processed by consumer is
// parked: commands keep their service.step tail, events their work-order id.
func DLQSubject(consumer, subject string) string {
	if rest, ok := strings.CutPrefix(subject, commandsPrefix); ok {
		return dlqPrefix + rest
	}
	if rest, ok := strings.CutPrefix(subject, eventsPrefix); ok {
		wo, _, _ := strings.Cut(rest, ".")
		return dlqPrefix + consumer + "." + wo
	}
	return dlqPrefix + consumer + ".unknown"
}
