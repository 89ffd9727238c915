package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestCommand(t *testing.T) {
	for _, args := range [][]string{nil, {"rebuild-read-model"}} {
		if run, err := command(args); err != nil || run == nil {
			t.Errorf("command(%q) = %v, want a run function", args, err)
		}
	}
	for _, args := range [][]string{{"serve"}, {"rebuild-read-model", "now"}, {"--help"}} {
		if _, err := command(args); err == nil || !strings.Contains(err.Error(), "unknown arguments") {
			t.Errorf("command(%q) = %v, want unknown arguments", args, err)
		}
	}
}

// With the memory store there is nothing to rebuild; saying so beats
// replaying into a store that is thrown away at exit.
func TestRebuild_MemoryStoreRefused(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	run, _ := command([]string{"rebuild-read-model"})
	err = run(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "STATE_STORAGE_TYPE=memory") {
		t.Errorf("rebuild with memory = %v, want an error naming STATE_STORAGE_TYPE=memory", err)
	}
}
