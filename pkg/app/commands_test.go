package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestPickCommand(t *testing.T) {
	var ran string
	cmd := func(name string) RunFunc {
		return func(context.Context, config.Config, *slog.Logger) error { ran = name; return nil }
	}
	commands := map[string]RunFunc{"": cmd("serve"), "rebuild-read-model": cmd("rebuild")}
	for args, want := range map[string]string{"": "serve", "rebuild-read-model": "rebuild"} {
		var argv []string
		if args != "" {
			argv = []string{args}
		}
		run, err := pickCommand(argv, commands)
		if err != nil {
			t.Fatalf("pickCommand(%q): %v", argv, err)
		}
		_ = run(context.Background(), config.Config{}, nil)
		if ran != want {
			t.Errorf("pickCommand(%q) ran %s, want %s", argv, ran, want)
		}
	}
	for _, argv := range [][]string{{"serve"}, {"rebuild-read-model", "now"}, {"--help"}} {
		if _, err := pickCommand(argv, commands); err == nil || !strings.Contains(err.Error(), "unknown arguments") {
			t.Errorf("pickCommand(%q) = %v, want unknown arguments", argv, err)
		}
	}
	if got := usage("awo", commands); got != "awo [rebuild-read-model]" {
		t.Errorf("usage = %q", got)
	}
}
