package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// Target is one figure a benchmark measured held against its goal, e.g.
// "history start-up (memory, 100k)": 6.2 s, at most 10 s.
type Target struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"` // "s", "ms", "MB", "x", "work orders/s", ...
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	// AtLeast: the goal is Value >= Limit; otherwise Value <= Limit.
	AtLeast bool   `json:"at_least,omitempty"`
	Met     bool   `json:"met"`
	Note    string `json:"note,omitempty"`
}

// NewTarget builds a Target and decides Met.
func NewTarget(name, unit string, value, limit float64, atLeast bool, note string) Target {
	met := value <= limit
	if atLeast {
		met = value >= limit
	}
	return Target{Name: name, Unit: unit, Value: value, Limit: limit, AtLeast: atLeast, Met: met, Note: note}
}

// PrintTargets writes targets as a table that says which are met.
func PrintTargets(w io.Writer, title string, targets []Target) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\ttarget\tmet\tnote")
	for _, t := range targets {
		op := "≤"
		if t.AtLeast {
			op = "≥"
		}
		met := "no"
		if t.Met {
			met = "yes"
		}
		fmt.Fprintf(tw, "%s\t%.4g %s\t%s %.4g %s\t%s\t%s\n", t.Name, t.Value, t.Unit, op, t.Limit, t.Unit, met, t.Note)
	}
	tw.Flush()
}

// MergeSection stores v under key in the JSON object at path (created
// when missing), leaving the other sections as they are: each benchmark
// program of `make bench` writes its own part of bench/results.json.
func MergeSection(path, key string, v any) error {
	doc := map[string]json.RawMessage{}
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	} else if err != nil && !os.IsNotExist(err) {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the %s section: %w", key, err)
	}
	doc[key] = b
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o644)
}
