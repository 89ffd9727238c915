package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestLoad_StreamReplicasAndPlacement(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.StreamReplicas != 1 || c.StreamPlacementTags != nil {
		t.Fatalf("defaults: replicas %d, tags %q", c.StreamReplicas, c.StreamPlacementTags)
	}

	c, err = config.Load(env(map[string]string{
		"AWO_STREAM_REPLICAS": "3", "AWO_STREAM_PLACEMENT_TAGS": " az:eu-1a, ssd ,",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StreamReplicas != 3 || !slices.Equal(c.StreamPlacementTags, []string{"az:eu-1a", "ssd"}) {
		t.Fatalf("set: replicas %d, tags %q", c.StreamReplicas, c.StreamPlacementTags)
	}

	for _, tc := range []struct{ name, value, want string }{
		{"AWO_STREAM_REPLICAS", "0", "from 1 to 5"},
		{"AWO_STREAM_REPLICAS", "6", "from 1 to 5"},
		{"AWO_STREAM_REPLICAS", "three", "from 1 to 5"},
		{"AWO_STREAM_PLACEMENT_TAGS", "az 1,ssd", "without spaces"},
	} {
		_, err := config.Load(env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: err = %v, want one naming the variable and %q", tc.name, tc.value, err, tc.want)
		}
	}
}
