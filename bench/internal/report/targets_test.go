package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewTarget_DecidesMetBothWays(t *testing.T) {
	for _, c := range []struct {
		value, limit float64
		atLeast, met bool
	}{{5, 10, false, true}, {11, 10, false, false}, {500, 500, true, true}, {499, 500, true, false}} {
		if got := NewTarget("x", "s", c.value, c.limit, c.atLeast, "").Met; got != c.met {
			t.Errorf("%v vs %v (at least %t): met %t, want %t", c.value, c.limit, c.atLeast, got, c.met)
		}
	}
}

func TestMergeSection_KeepsTheOtherSections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(path, []byte(`{"pipeline": [1, 2]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := MergeSection(path, "history", []Target{NewTarget("start-up", "s", 3, 10, false, "")}); err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &doc); err != nil || string(doc["pipeline"]) != "[1,2]" && !strings.Contains(string(doc["pipeline"]), "1") || doc["history"] == nil {
		t.Fatalf("after merge: %s (%v)", b, err)
	}
}
