package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

// TestConfigurationDoc_ListsEveryVariable keeps docs/configuration.md and
// the variables table in step: the document names each variable in
// backticks in the first column of its tables, and a variable missing on
// either side fails the test by name.
func TestConfigurationDoc_ListsEveryVariable(t *testing.T) {
	known := map[string]bool{}
	for _, name := range config.Variables() {
		known[name] = true
	}

	path := filepath.Join("..", "..", "docs", "configuration.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedVariables(string(doc))
	if len(documented) == 0 {
		t.Fatalf("%s: no variable found in the first column of its tables", path)
	}

	for _, name := range sortedKeys(known) {
		if !documented[name] {
			t.Errorf("%s is read by the configuration code but has no row in %s", name, path)
		}
	}
	for _, name := range sortedKeys(documented) {
		if !known[name] {
			t.Errorf("%s has a row in %s but the configuration code does not read it", name, path)
		}
	}
}

// TestLoad_ReadsOnlyTheTablesVariables records what Load asks getenv for
// (an empty environment takes every default path): a variable read outside
// the table would escape the documentation test above.
func TestLoad_ReadsOnlyTheTablesVariables(t *testing.T) {
	read := map[string]bool{}
	if _, err := config.Load(func(name string) string { read[name] = true; return "" }); err != nil {
		t.Fatalf("Load with an empty environment: %v", err)
	}
	known := map[string]bool{}
	for _, name := range config.Variables() {
		known[name] = true
	}
	for _, name := range sortedKeys(read) {
		if !known[name] {
			t.Errorf("Load reads %s, which is not in the variables table", name)
		}
	}
	for _, name := range sortedKeys(known) {
		if !read[name] {
			t.Errorf("%s is in the variables table but Load does not read it with an empty environment", name)
		}
	}
}

var backticked = regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")

// documentedVariables returns the backticked NAMEs in the first cell of
// every Markdown table row (header and separator rows hold none).
func documentedVariables(doc string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		first, _, _ := strings.Cut(line[1:], "|")
		for _, m := range backticked.FindAllStringSubmatch(first, -1) {
			out[m[1]] = true
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestDocumentedVariables_ReadsOnlyTheFirstColumn(t *testing.T) {
	doc := "text `NOT_A_ROW`\n| variable | default |\n|---|---|\n| `A_ONE` / `A_TWO` | `NOT_FIRST` |\n|`B`|x|\n"
	got := sortedKeys(documentedVariables(doc))
	if want := []string{"A_ONE", "A_TWO", "B"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
