package textcut

import (
	"testing"
	"unicode/utf8"
)

func TestBytes(t *testing.T) {
	tests := []struct {
		name, s string
		n       int
		marker  string
		want    string
	}{
		{"short stays", "abc", 5, "…", "abc"},
		{"exact stays", "abcde", 5, "…", "abcde"},
		{"ascii cut", "abcdef", 3, "…", "abc…"},
		{"no marker", "abcdef", 3, "", "abc"},
		{"cut inside a two-byte character backs off", "aé", 2, "…", "a…"},
		{"cut after a two-byte character keeps it", "aéb", 3, "…", "aé…"},
		{"cut inside a four-byte character backs off", "ab😀cd", 4, "", "ab"},
		{"cut inside a three-byte character backs off", "€€", 4, "|", "€|"},
		{"limit inside the first character", "😀", 2, "…", "…"},
		{"zero limit", "abc", 0, "", ""},
		{"negative limit", "abc", -1, "…", "…"},
		{"empty", "", 0, "…", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Bytes(tt.s, tt.n, tt.marker)
			if got != tt.want {
				t.Errorf("Bytes(%q, %d, %q) = %q, want %q", tt.s, tt.n, tt.marker, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Bytes(%q, %d) split a character: %q", tt.s, tt.n, got)
			}
		})
	}
}

func TestRunes(t *testing.T) {
	tests := []struct {
		name, s string
		n       int
		marker  string
		want    string
	}{
		{"short stays", "héllo", 5, "…", "héllo"},
		{"ascii cut", "abcdef", 3, "…", "abc…"},
		{"counts characters, not bytes", "ééééé", 3, "", "ééé"},
		{"four-byte characters", "😀😀😀", 2, " (cut)", "😀😀 (cut)"},
		{"zero limit", "é", 0, "…", "…"},
		{"negative limit", "é", -3, "", ""},
		{"empty", "", 0, "…", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Runes(tt.s, tt.n, tt.marker)
			if got != tt.want {
				t.Errorf("Runes(%q, %d, %q) = %q, want %q", tt.s, tt.n, tt.marker, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Runes(%q, %d) split a character: %q", tt.s, tt.n, got)
			}
		})
	}
}

func TestLastBytes(t *testing.T) {
	tests := []struct {
		name, s string
		n       int
		marker  string
		want    string
	}{
		{"short stays", "abc", 5, "…", "abc"},
		{"exact stays", "abcde", 5, "…", "abcde"},
		{"ascii cut", "abcdef", 3, "…", "…def"},
		{"cut inside a two-byte character skips it", "éab", 3, "", "ab"},
		{"cut before a two-byte character keeps it", "aéb", 3, "…", "…éb"},
		{"cut inside a four-byte character skips it", "ab😀cd", 4, "", "cd"},
		{"limit inside the last character", "a😀", 2, "…", "…"},
		{"zero limit", "abc", 0, "…", "…"},
		{"negative limit", "abc", -1, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LastBytes(tt.s, tt.n, tt.marker)
			if got != tt.want {
				t.Errorf("LastBytes(%q, %d, %q) = %q, want %q", tt.s, tt.n, tt.marker, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("LastBytes(%q, %d) split a character: %q", tt.s, tt.n, got)
			}
		})
	}
}
