// Package awoenv is what the deployment tests share: which environment
// variables an awo container may be given (the configuration's and the Go
// runtime's), the default shutdown grace, and the nats-server version the
// tests embed.
package awoenv

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/agentworkorders/awo/pkg/config"
)

// runtime are read by the Go runtime, not by awo's configuration.
var runtime = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC"}

// Known reports whether name is a variable an awo container may be given.
func Known(name string) bool {
	return slices.Contains(config.Variables(), name) || slices.Contains(runtime, name)
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

// NATSServerVersion is the nats-server version the tests embed, from
// pkg/go.mod under the repository root (without the leading v): the
// deployments run the image of that version.
func NATSServerVersion(root string) (string, error) {
	path := filepath.Join(root, "pkg", "go.mod")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	f, err := modfile.ParseLax(path, b, nil)
	if err != nil {
		return "", err
	}
	for _, r := range f.Require {
		if r.Mod.Path == "github.com/nats-io/nats-server/v2" {
			return strings.TrimPrefix(r.Mod.Version, "v"), nil
		}
	}
	return "", fmt.Errorf("%s does not require nats-server", path)
}
