package config_test

import (
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

// No admission limit unless set; every stream
// has a size limit.
func TestLoad_AdmissionAndStreamLimits(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxActiveWorkOrders != 0 || c.MaxActivePerRepository != 0 ||
		c.EventsMaxBytes != 5<<30 || c.LogsMaxBytes != 1<<30 || c.CommandsMaxBytes != 256<<20 || c.DLQMaxBytes != 256<<20 {
		t.Fatalf("defaults: %+v", c)
	}

	c, err = config.Load(env(map[string]string{
		"AWO_MAX_ACTIVE_WORK_ORDERS": "20", "AWO_MAX_ACTIVE_PER_REPOSITORY": "3",
		"AWO_EVENTS_MAX_BYTES": "10GiB", "AWO_LOGS_MAX_BYTES": "2GiB", "AWO_COMMANDS_MAX_BYTES": "512MiB", "AWO_DLQ_MAX_BYTES": "1GB",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxActiveWorkOrders != 20 || c.MaxActivePerRepository != 3 ||
		c.EventsMaxBytes != 10<<30 || c.LogsMaxBytes != 2<<30 || c.CommandsMaxBytes != 512<<20 || c.DLQMaxBytes != 1e9 {
		t.Fatalf("set: %+v", c)
	}
	printed := ""
	attrs := c.Attrs()
	for i := 0; i+1 < len(attrs); i += 2 {
		if name, _ := attrs[i].(string); strings.HasPrefix(name, "AWO_MAX_ACTIVE") || strings.HasSuffix(name, "_MAX_BYTES") {
			printed += name + " "
		}
	}
	for _, name := range []string{"AWO_MAX_ACTIVE_WORK_ORDERS", "AWO_MAX_ACTIVE_PER_REPOSITORY", "AWO_EVENTS_MAX_BYTES",
		"AWO_LOGS_MAX_BYTES", "AWO_COMMANDS_MAX_BYTES", "AWO_DLQ_MAX_BYTES"} {
		if !strings.Contains(printed, name) {
			t.Errorf("Attrs lacks %s", name)
		}
	}

	for name, value := range map[string]string{
		"AWO_MAX_ACTIVE_WORK_ORDERS":    "-1",
		"AWO_MAX_ACTIVE_PER_REPOSITORY": "many",
		"AWO_EVENTS_MAX_BYTES":          "10", // bytes: a typo for 10GiB
		"AWO_LOGS_MAX_BYTES":            "lots",
		"AWO_COMMANDS_MAX_BYTES":        "0",
		"AWO_DLQ_MAX_BYTES":             "-1GiB",
	} {
		_, err := config.Load(env(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err = %v, want one naming the variable", name, value, err)
		}
	}
}
