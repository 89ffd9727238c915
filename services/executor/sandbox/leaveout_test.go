package sandbox

import (
	"slices"
	"testing"
)

func TestLeaveOut_LargestFirstUntilTheRestFits(t *testing.T) {
	entries := func() []LeftOut {
		return []LeftOut{{"src/new.go", 10}, {"node_modules/", 900}, {"dist/", 300}, {"b.bin", 300}, {"a.bin", 300}}
	}
	for _, c := range []struct {
		name  string
		limit int64
		want  []string
	}{
		{"all fit", 5000, nil},
		{"exactly at the limit", 1810, nil},
		{"the largest is enough", 1000, []string{"node_modules/"}},
		{"ties by name", 600, []string{"node_modules/", "a.bin", "b.bin"}},
		{"everything but the smallest", 10, []string{"node_modules/", "a.bin", "b.bin", "dist/"}},
		{"everything", 0, []string{"node_modules/", "a.bin", "b.bin", "dist/", "src/new.go"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, e := range leaveOut(entries(), 1810, c.limit) {
				got = append(got, e.Path)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("left out %v, want %v", got, c.want)
			}
		})
	}
}

func TestExcludePathspecs_LiteralDirectoriesWithoutSlash(t *testing.T) {
	got := excludePathspecs([]LeftOut{{"node_modules/", 1}, {"a*b?.bin", 1}})
	want := []string{":(exclude,literal)node_modules", ":(exclude,literal)a*b?.bin"}
	if !slices.Equal(got, want) {
		t.Fatalf("%q, want %q", got, want)
	}
}
