package freetext_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/freetext"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string // "" = accepted; else a substring of the message
	}{
		{"plain", "Fix the login bug", 0, ""},
		{"tab CR LF allowed", "line one\r\n\tline two\n", 0, ""},
		{"non-ASCII letters", "Corrige le bogue de connexion — ça plante 🙃", 0, ""},
		{"replacement character itself", "a\uFFFDb", 0, ""},
		{"empty", "", 10, ""},
		{"NUL", "abc\x00def", 0, "user_request: control character U+0000 (NUL) at byte 3"},
		{"NUL first", "\x00", 0, "U+0000 (NUL) at byte 0"},
		{"ESC (terminal escape)", "hi \x1b[31mred", 0, "U+001B (ESC) at byte 3"},
		{"BEL", "\a", 0, "U+0007 (BEL)"},
		{"vertical tab", "a\vb", 0, "U+000B (VT)"},
		{"form feed", "a\fb", 0, "U+000C (FF)"},
		{"unit separator", "a\x1fb", 0, "U+001F at byte 1"},
		{"DEL", "a\x7f", 0, "U+007F (DEL) at byte 1"},
		{"C1 first (U+0080)", "a\u0080", 0, "U+0080 at byte 1"},
		{"C1 NEL", "é\u0085", 0, "U+0085 (NEL) at byte 2"},
		{"C1 CSI", "\u009b31m", 0, "U+009B (CSI) at byte 0"},
		{"C1 last (U+009F)", "\u009f", 0, "U+009F at byte 0"},
		{"just after C1 (U+00A0, no-break space)", "a\u00a0b", 0, ""},
		{"invalid UTF-8", "ab\xffcd", 0, "invalid UTF-8 (byte 0xff at byte 2)"},
		{"truncated sequence", "ab\xe2\x82", 0, "invalid UTF-8 (byte 0xe2 at byte 2)"},
		{"lone C1 byte is invalid UTF-8, not C1", "a\x85", 0, "invalid UTF-8 (byte 0x85 at byte 1)"},
		{"at the cap", strings.Repeat("a", 10), 10, ""},
		{"one over the cap", strings.Repeat("a", 11), 10, "user_request: must be at most 10 bytes, got 11"},
		{"cap counts bytes, not characters", strings.Repeat("é", 6), 10, "must be at most 10 bytes, got 12"},
		{"length checked before content", "\x00" + strings.Repeat("a", 20), 10, "must be at most 10 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := freetext.Check("user_request", tc.in, tc.max)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check(%q) = %v, want one containing %q", tc.in, err, tc.want)
			}
			if !errors.Is(err, freetext.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var p *freetext.Problem
			if !errors.As(err, &p) || p.Field != "user_request" {
				t.Errorf("error %v is not a *Problem for the field", err)
			}
		})
	}
}

// TestRefused walks every code point up to U+00FF: exactly C0 without tab,
// LF and CR, DEL and C1 are refused.
func TestRefused(t *testing.T) {
	for r := rune(0); r <= 0xff; r++ {
		want := (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f || (r >= 0x80 && r <= 0x9f)
		if got := freetext.Refused(r); got != want {
			t.Errorf("Refused(U+%04X) = %v, want %v", r, got, want)
		}
	}
	for _, r := range []rune{0x2028, 0x202e, 0xfeff, 0x1f600} {
		if freetext.Refused(r) {
			t.Errorf("Refused(U+%04X) = true; only C0, DEL and C1 are refused", r)
		}
	}
}
