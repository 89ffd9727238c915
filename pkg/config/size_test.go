package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestParseSize_AcceptsBytesAndUnits(t *testing.T) {
	cases := map[string]int64{
		"0":          0,
		"1073741824": 1 << 30,
		"1GiB":       1 << 30,
		"500MiB":     500 << 20,
		"500 mib":    500 << 20,
		"2GB":        2e9,
		"1.5GiB":     3 << 29,
		"10KB":       10000,
		"64k":        64 << 10,
		"7B":         7,
	}
	for in, want := range cases {
		got, err := config.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1GiB", "1 gigabyte", "1..2GB", "lots", "1e9", "99999999999PiB"} {
		if got, err := config.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, got)
		}
	}
}

func TestFormatSize_LargestWholeUnit(t *testing.T) {
	cases := map[int64]string{
		0: "0 B", 512: "512 B", 1 << 30: "1 GiB", 300 << 20: "300 MiB", 3 << 29: "1.5 GiB", 1536: "1.5 KiB",
	}
	for in, want := range cases {
		if got := config.FormatSize(in); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestLoad_HousekeepingSettings(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SandboxRetention != 24*time.Hour || c.MinFreeDisk != 1<<30 {
		t.Fatalf("defaults: retention %s, min free disk %d", c.SandboxRetention, c.MinFreeDisk)
	}
	c, err = config.Load(env(map[string]string{"AWO_SANDBOX_RETENTION": "0", "AWO_MIN_FREE_DISK": "500MiB"}))
	if err != nil || c.SandboxRetention != 0 || c.MinFreeDisk != 500<<20 {
		t.Fatalf("got retention %s, min free disk %d, %v", c.SandboxRetention, c.MinFreeDisk, err)
	}
	for name, value := range map[string]string{"AWO_SANDBOX_RETENTION": "a day", "AWO_MIN_FREE_DISK": "1 gigabyte"} {
		_, err := config.Load(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err = %v, want one naming the variable", name, value, err)
		}
	}
	_, err = config.Load(env(map[string]string{"AWO_SANDBOX_RETENTION": "-1h"}))
	if err == nil || !strings.Contains(err.Error(), "AWO_SANDBOX_RETENTION") {
		t.Errorf("negative retention: %v", err)
	}
}
