package logentry

import (
	"time"

	"github.com/agentworkorders/awo/pkg/workorder"
)

// Filter selects entries; zero fields match everything.
type Filter struct {
	// Level keeps entries of exactly this level, as the Python service's filter did.
	Level Level
	Step  workorder.Step
	// Since keeps entries stamped strictly after it.
	Since time.Time
}

// Match reports whether e passes the filter.
func (f Filter) Match(e Entry) bool {
	if f.Level != "" && e.Level != f.Level {
		return false
	}
	if f.Step != "" && e.Step != f.Step {
		return false
	}
	if !f.Since.IsZero() && !e.Timestamp.After(f.Since) {
		return false
	}
	return true
}
