package config

import (
	"math"
	"strconv"
)

// Admission control and stream sizes.

// Default stream sizes, the same as bus.StreamSettings'. JetStream
// reserves every stream's MaxBytes on disk when it creates the stream, and
// the embedded server grants at most 75% of the free space of its data
// directory, so the sum (6.5 GiB, needing about 9 GB free) must fit a
// laptop's disk: larger defaults would stop `make run` on a nearly full
// one. Within that they are far above normal use: a work order's events
// are tens of KiB (step outputs included), so 5 GiB is tens of thousands
// of work orders within AWO_EVENTS_MAX_AGE; the live logs (every line an
// agent prints) keep their earlier 1 GiB and expire after 7 days anyway;
// a queued command is under a KiB and leaves the work queue once run, so
// 256 MiB is only reached when no worker consumes; the DLQ holds copies of
// what failed.
const (
	DefaultEventsMaxBytes   int64 = 5 << 30
	DefaultLogsMaxBytes     int64 = 1 << 30
	DefaultCommandsMaxBytes int64 = 256 << 20
	DefaultDLQMaxBytes      int64 = 256 << 20
)

// minStreamBytes keeps a typo ("10" meaning 10 GiB) from making a stream
// that cannot hold one message.
const minStreamBytes = 1 << 20

func (p *parser) streamSize(name string, def int64) int64 {
	return p.sizeIn(name, def, minStreamBytes, math.MaxInt64, "must be a size of at least 1MiB such as 10GiB, 500MiB or 2GB")
}

func limitString(n int) string {
	if n == 0 {
		return "0 (no limit)"
	}
	return strconv.Itoa(n)
}

// limitVariables are admission control and stream sizes.
var limitVariables = []variable{
	{names: []string{"AWO_MAX_ACTIVE_WORK_ORDERS"},
		load: func(p *parser, n []string, c *Config) { c.MaxActiveWorkOrders = p.intRange(n[0], 0, 0, 1_000_000) },
		show: func(c *Config) any { return limitString(c.MaxActiveWorkOrders) }},
	{names: []string{"AWO_MAX_ACTIVE_PER_REPOSITORY"},
		load: func(p *parser, n []string, c *Config) { c.MaxActivePerRepository = p.intRange(n[0], 0, 0, 1_000_000) },
		show: func(c *Config) any { return limitString(c.MaxActivePerRepository) }},
	{names: []string{"AWO_EVENTS_MAX_BYTES"},
		load: func(p *parser, n []string, c *Config) { c.EventsMaxBytes = p.streamSize(n[0], DefaultEventsMaxBytes) },
		show: func(c *Config) any { return FormatSize(c.EventsMaxBytes) }},
	{names: []string{"AWO_LOGS_MAX_BYTES"},
		load: func(p *parser, n []string, c *Config) { c.LogsMaxBytes = p.streamSize(n[0], DefaultLogsMaxBytes) },
		show: func(c *Config) any { return FormatSize(c.LogsMaxBytes) }},
	{names: []string{"AWO_COMMANDS_MAX_BYTES"},
		load: func(p *parser, n []string, c *Config) {
			c.CommandsMaxBytes = p.streamSize(n[0], DefaultCommandsMaxBytes)
		},
		show: func(c *Config) any { return FormatSize(c.CommandsMaxBytes) }},
	{names: []string{"AWO_DLQ_MAX_BYTES"},
		load: func(p *parser, n []string, c *Config) { c.DLQMaxBytes = p.streamSize(n[0], DefaultDLQMaxBytes) },
		show: func(c *Config) any { return FormatSize(c.DLQMaxBytes) }},
}
