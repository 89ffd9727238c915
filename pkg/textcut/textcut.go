// Package textcut shortens text for messages, log lines and descriptions
// without ever splitting a UTF-8 character: a cut lands on a character
// boundary, so the result is valid UTF-8 whenever the input is.
package textcut

import "unicode/utf8"

// Bytes returns s when it is at most n bytes long. Otherwise it returns the
// longest prefix of s of at most n bytes that ends on a character boundary,
// followed by marker (which is not counted in n). Use it where the limit is
// about size: a NATS term reason, a log attribute, an error message.
func Bytes(s string, n int, marker string) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + marker
}

// Runes returns s when it has at most n characters. Otherwise it returns
// its first n characters followed by marker (which is not counted in n).
// Use it where the limit is about what a reader sees, such as GitHub's
// limits on a pull request's title and body, which count characters.
func Runes(s string, n int, marker string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	n = max(n, 0)
	i := 0
	for c := 0; c < n; c++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + marker
}

// LastBytes is Bytes from the other end, for the tail of an output: it
// returns s when it is at most n bytes long, and otherwise marker followed
// by the longest suffix of s of at most n bytes that starts on a character
// boundary.
func LastBytes(s string, n int, marker string) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - max(n, 0)
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return marker + s[i:]
}
