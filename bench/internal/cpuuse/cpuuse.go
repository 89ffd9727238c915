// Package cpuuse tells how much CPU this process and its children (git)
// used over a stretch of wall-clock time, and how busy the machine was: a
// benchmark on a shared 2-core machine means little without it.
package cpuuse

import (
	"os"
	"strings"
	"syscall"
	"time"
)

// Mark is a point to measure from.
type Mark struct {
	at             time.Time
	self, children time.Duration
}

// Now marks the current usage.
func Now() Mark {
	return Mark{at: time.Now(), self: used(syscall.RUSAGE_SELF), children: used(syscall.RUSAGE_CHILDREN)}
}

// Usage is CPU time per wall-clock second since a Mark: 1.0 is one core
// kept busy.
type Usage struct {
	SelfCores     float64 `json:"process_cores"`
	ChildrenCores float64 `json:"child_process_cores"` // finished children only (git runs)
	LoadAvg       string  `json:"loadavg_at_end"`      // /proc/loadavg: the machine, others included
}

// Since is the usage from m until now.
func Since(m Mark) Usage {
	wall := time.Since(m.at).Seconds()
	u := Usage{LoadAvg: loadAvg()}
	if wall > 0 {
		u.SelfCores = (used(syscall.RUSAGE_SELF) - m.self).Seconds() / wall
		u.ChildrenCores = (used(syscall.RUSAGE_CHILDREN) - m.children).Seconds() / wall
	}
	return u
}

func used(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
