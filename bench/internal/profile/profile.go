// Package profile records CPU and block profiles around a phase of the
// benchmark and reads back their heaviest entries.
package profile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
)

// blockRate samples, on average, one blocking event per this many
// nanoseconds spent blocked: fine enough to see where work orders wait,
// coarse enough not to slow the run.
const blockRate = 1_000_000

// Start writes a CPU profile to cpuPath and a block profile (where
// goroutines waited, and how long) to blockPath, until the returned stop
// is called.
func Start(cpuPath, blockPath string) (stop func() error, err error) {
	f, err := os.Create(cpuPath)
	if err != nil {
		return nil, fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting CPU profile: %w", err)
	}
	runtime.SetBlockProfileRate(blockRate)
	return func() error {
		pprof.StopCPUProfile()
		cerr := f.Close()
		runtime.SetBlockProfileRate(0)
		return errors.Join(cerr, writeProfile("block", blockPath))
	}, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s profile: %w", name, err)
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("writing %s profile: %w", name, err)
	}
	return f.Close()
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
