// Package profile records a CPU profile around a phase of the benchmark and
// reads back its heaviest functions.
package profile

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
)

// Start writes a CPU profile to path until the returned stop is called.
func Start(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting CPU profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// Top is `go tool pprof -top` of the profile at path: the n functions with
// the most flat CPU time, one line each, with the header lines pprof
// prints first. It needs the go command; Go profiles carry their own
// symbols, so the binary is not.
func Top(ctx context.Context, path string, n int, cumulative bool) ([]string, error) {
	args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}
	if cumulative {
		args = append(args, "-cum")
	}
	out, err := exec.CommandContext(ctx, "go", append(args, path)...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -top %s: %w: %s", path, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		lines = append(lines, strings.TrimRight(l, " "))
	}
	return lines, nil
}
