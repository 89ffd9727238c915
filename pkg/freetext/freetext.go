// Package freetext checks the text fields people write (a work order's
// request, a cancel or retry reason, a filter value) before anything stores
// or forwards them: valid UTF-8, no control characters other than tab, CR
// and LF, and a length cap.
//
// Why: PostgreSQL refuses U+0000 in text and jsonb, so one NUL in a request
// once stopped the Postgres projector for good; escape sequences and other
// controls end up in terminals, logs and pull requests, where they can
// rewrite what a reader sees. Refusing them at the API edge, naming the
// field and the first bad character, is cheaper than cleaning every sink.
package freetext

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every error Check returns.
var ErrInvalid = errors.New("invalid text")

// Problem describes why a field was refused. Its Error text starts with the
// field's name and says what to change, for a client's 422.
type Problem struct {
	Field string
	// Offset is the byte offset of the first bad character; -1 for a
	// length problem.
	Offset int
	// Rune is the refused control character; utf8.RuneError with Byte set
	// for invalid UTF-8.
	Rune rune
	Byte byte
	// Len and Max are set for a length problem.
	Len, Max int
}

func (p *Problem) Error() string {
	switch {
	case p.Offset < 0:
		return fmt.Sprintf("%s: must be at most %d bytes, got %d", p.Field, p.Max, p.Len)
	case p.Rune == utf8.RuneError:
		return fmt.Sprintf("%s: invalid UTF-8 (byte 0x%02x at byte %d); send UTF-8 text", p.Field, p.Byte, p.Offset)
	}
	name := ""
	if n, ok := controlNames[p.Rune]; ok {
		name = " (" + n + ")"
	}
	return fmt.Sprintf("%s: control character U+%04X%s at byte %d is not allowed; only tab, CR and LF are",
		p.Field, p.Rune, name, p.Offset)
}

func (p *Problem) Unwrap() error { return ErrInvalid }

// Check returns a *Problem naming field when s is longer than maxBytes
// (0: no cap), is not valid UTF-8, or holds a control character other than
// tab, CR and LF: C0 (U+0000–U+001F), DEL (U+007F) or C1 (U+0080–U+009F).
// The length is checked first, so a huge value is refused without being
// scanned.
func Check(field, s string, maxBytes int) error {
	if maxBytes > 0 && len(s) > maxBytes {
		return &Problem{Field: field, Offset: -1, Len: len(s), Max: maxBytes}
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			// Either invalid UTF-8 or a genuine U+FFFD, which is fine.
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return &Problem{Field: field, Offset: i, Rune: utf8.RuneError, Byte: s[i]}
			}
		case Refused(r):
			return &Problem{Field: field, Offset: i, Rune: r}
		}
	}
	return nil
}

// Refused reports whether r is a control character free text may not hold.
func Refused(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	}
	return false
}

// controlNames are the usual names of the controls a client most likely
// sent by mistake, to make the message recognisable.
var controlNames = map[rune]string{
	0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0b: "VT", 0x0c: "FF", 0x1b: "ESC", 0x7f: "DEL",
	0x85: "NEL", 0x9b: "CSI",
}
