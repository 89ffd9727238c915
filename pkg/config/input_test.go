package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestLoad_InputLimits(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxRequestBytes != 64<<10 || c.ListMax != 10_000 {
		t.Fatalf("defaults: AWO_MAX_REQUEST_BYTES=%d AWO_LIST_MAX=%d, want 65536 and 10000", c.MaxRequestBytes, c.ListMax)
	}

	accepted := []struct {
		name, value string
		want        int
	}{
		{"AWO_MAX_REQUEST_BYTES", "1", 1},
		{"AWO_MAX_REQUEST_BYTES", "4096", 4096},
		{"AWO_MAX_REQUEST_BYTES", "16KiB", 16 << 10},
		{"AWO_MAX_REQUEST_BYTES", "128KiB", 128 << 10},
		{"AWO_LIST_MAX", "1", 1},
		{"AWO_LIST_MAX", "250", 250},
		{"AWO_LIST_MAX", "1000000", 1_000_000},
	}
	for _, tc := range accepted {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			c, err := config.Load(env(map[string]string{tc.name: tc.value}))
			if err != nil {
				t.Fatal(err)
			}
			got := c.MaxRequestBytes
			if tc.name == "AWO_LIST_MAX" {
				got = c.ListMax
			}
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
			if !strings.Contains(inputAttrsLine(c), tc.name+"=") {
				t.Errorf("Attrs does not show %s: %s", tc.name, inputAttrsLine(c))
			}
		})
	}

	refused := []struct{ name, value string }{
		{"AWO_MAX_REQUEST_BYTES", "0"},
		{"AWO_MAX_REQUEST_BYTES", "-1"},
		{"AWO_MAX_REQUEST_BYTES", "128KiB1"},
		{"AWO_MAX_REQUEST_BYTES", "131073"}, // one over 128 KiB: escaped six-fold, may not fit a 1 MiB NATS message
		{"AWO_MAX_REQUEST_BYTES", "1MiB"},
		{"AWO_MAX_REQUEST_BYTES", "lots"},
		{"AWO_LIST_MAX", "0"},
		{"AWO_LIST_MAX", "-5"},
		{"AWO_LIST_MAX", "1000001"},
		{"AWO_LIST_MAX", "10k"},
	}
	for _, tc := range refused {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{tc.name: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("err = %v, want one naming %s", err, tc.name)
			}
		})
	}
}

// inputAttrsLine renders Attrs as name=value pairs.
func inputAttrsLine(c config.Config) string {
	var b strings.Builder
	a := c.Attrs()
	for i := 0; i+1 < len(a); i += 2 {
		fmt.Fprintf(&b, "%v=%v ", a[i], a[i+1])
	}
	return b.String()
}
