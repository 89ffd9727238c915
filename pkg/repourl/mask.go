package repourl

import "strings"

// Masked is what Mask puts in place of a secret.
const Masked = "****"

// Mask returns raw fit for a log line or an error message: user
// information that may be a secret (anything on an https URL, anything with
// a ':' in it, anything that is not a plain user name) becomes "****", and
// so does a query or fragment. A plain ssh user ("git@") stays. Mask works
// on anything, valid or not, and errs towards masking too much: a refused
// URL is logged in the same masked form.
//
//	https://user:token@host/o/r → https://****@host/o/r
//	user:token@host:o/r         → ****@host:o/r
//	git@github.com:o/r          → git@github.com:o/r
func Mask(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i+1] + Masked
	}
	prefix, rest, plainUserOK := "", raw, true
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		prefix, rest = scheme+"://", after
		plainUserOK = strings.EqualFold(scheme, "ssh")
	}
	// Paths never hold '@' in a valid URL, so the last one ends the user
	// information even when a password holds '/' or '@'.
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user := rest[:at]
	if plainUserOK && userPattern.MatchString(user) {
		return raw
	}
	return prefix + Masked + rest[at:]
}
