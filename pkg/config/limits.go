package config

import "strconv"

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
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil || n < minStreamBytes {
		p.fail(name, v, "must be a size of at least 1MiB such as 10GiB, 500MiB or 2GB")
		return def
	}
	return n
}

func limitString(n int) string {
	if n == 0 {
		return "0 (no limit)"
	}
	return strconv.Itoa(n)
}
