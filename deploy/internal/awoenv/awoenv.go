// Package awoenv tells the deployment tests which environment variables an
// awo container may be given: the configuration's (pkg/config), the Go
// runtime's, and the shared contract's new ones until they land in
// pkg/config.
package awoenv

import (
	"slices"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
)

// runtime are read by the Go runtime, not by awo's configuration.
var runtime = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC"}

// contract are issue 14's new settings (AWO_STREAM_REPLICAS, placement
// tags), added to pkg/config by another branch; accepted by name until
// config.Variables() lists them, a no-op after.
var contract = []string{"AWO_STREAM_REPLICAS", "AWO_STREAM_PLACEMENT_TAGS"}

// Known reports whether name is a variable an awo container may be given.
func Known(name string) bool {
	return slices.Contains(config.Variables(), name) || slices.Contains(runtime, name) || slices.Contains(contract, name)
}

// DefaultShutdownGrace is AWO_SHUTDOWN_GRACE's default (docs/configuration.md).
const DefaultShutdownGrace = 30 * time.Second

// ShutdownGrace is the grace an environment gives running steps:
// AWO_SHUTDOWN_GRACE when it parses, else the default.
func ShutdownGrace(value string) time.Duration {
	if d, err := time.ParseDuration(value); err == nil {
		return d
	}
	return DefaultShutdownGrace
}
