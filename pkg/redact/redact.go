// Package redact removes secrets from text before it leaves the process:
// live-log entries, step output and errors, events, and log lines all pass
// through one Redactor. It replaces two kinds of secret with Mask:
//
//   - the values of the secrets in the configuration (API keys, tokens,
//     passwords), given to New; values shorter than MinSecretLen are
//     ignored, because replacing a three-letter password everywhere would
//     shred every message while protecting nothing worth guessing;
//   - well-known token shapes, whoever's they are: GitHub tokens (ghp_,
//     gho_, ghu_, ghs_, ghr_, github_pat_), Anthropic (sk-ant-) and
//     OpenAI-style (sk-) keys, AWS access key ids, PEM private key blocks,
//     NATS nkey seed blocks, JSON Web Tokens, Authorization header values,
//     bearer tokens and passwords in URLs.
//
// A nil *Redactor knows no configured values and still removes the shapes,
// so a component built without one (a test, a forgotten wire) leaks no
// token that looks like one.
package redact

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
)

// Mask replaces every secret.
const Mask = "[REDACTED]"

// MinSecretLen is the shortest configured value that is redacted. Shorter
// values (a test's "sk-test", a throwaway database password) are left
// alone: replacing them would mangle ordinary words and numbers in every
// message, and a secret that short is not a secret worth the damage.
const MinSecretLen = 8

// Redactor replaces secrets in text. It is safe for concurrent use and
// immutable once built.
type Redactor struct {
	// literals are the configured values and the other spellings they take
	// in text (JSON-escaped, percent-encoded), longest first so that a
	// value containing another is replaced whole.
	literals []string
}

// New builds a redactor for the given secret values; empty and short ones
// (see MinSecretLen) are skipped, duplicates ignored.
func New(secrets ...string) *Redactor {
	seen := map[string]bool{}
	var lits []string
	add := func(s string) {
		if len(s) < MinSecretLen || seen[s] || strings.Contains(Mask, s) {
			return
		}
		seen[s] = true
		lits = append(lits, s)
	}
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < MinSecretLen {
			continue
		}
		add(s)
		// How the same value reads once it went through an encoder: inside
		// a JSON string, a URL's userinfo or query.
		if b, err := json.Marshal(s); err == nil {
			add(string(b[1 : len(b)-1]))
		}
		add(url.QueryEscape(s))
		add(url.PathEscape(s))
		add(url.UserPassword("x", s).String()[2:])
	}
	slices.SortStableFunc(lits, func(a, b string) int { return len(b) - len(a) })
	return &Redactor{literals: lits}
}

// Secrets is how many literal spellings the redactor looks for.
func (r *Redactor) Secrets() int {
	if r == nil {
		return 0
	}
	return len(r.literals)
}

// String returns s with every secret replaced by Mask. Text without any
// costs a few scans of s: each shape is tried only where its fixed part
// (such as "ghp_" or "://") occurs.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	for i := range shapes {
		if sh := &shapes[i]; sh.present(s) {
			s = sh.apply(s)
		}
	}
	if r != nil {
		for _, lit := range r.literals {
			if strings.Contains(s, lit) {
				s = strings.ReplaceAll(s, lit, Mask)
			}
		}
	}
	return s
}

// Bytes is String for a byte slice; b is returned as is when it holds no
// secret.
func (r *Redactor) Bytes(b []byte) []byte {
	s := string(b)
	if out := r.String(s); out != s {
		return []byte(out)
	}
	return b
}

// JSON redacts every string of an encoded JSON document (keys included),
// each decoded first, so that a secret holding a quote or a backslash is
// found whatever its escaping; the rest of the document is kept byte for
// byte. A document that ends inside a string is redacted as text from
// there on.
func (r *Redactor) JSON(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		end, escaped := i+1, false
		for end < len(b) && b[end] != '"' {
			if b[end] == '\\' {
				escaped = true
				end++
			}
			end++
		}
		if end >= len(b) {
			// Not JSON after all: redact the rest as plain text.
			rest := r.Bytes(b[i:])
			if out == nil && &rest[0] == &b[i] {
				return b
			}
			return append(append(out, b[last:i]...), rest...)
		}
		lit := b[i : end+1]
		var s string
		if !escaped {
			s = string(lit[1 : len(lit)-1])
		} else if err := json.Unmarshal(lit, &s); err != nil {
			s = string(lit[1 : len(lit)-1])
		}
		if red := r.String(s); red != s {
			enc, _ := json.Marshal(red)
			out = append(append(out, b[last:i]...), enc...)
			last = end + 1
		}
		i = end
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

var def atomic.Pointer[Redactor]

// SetDefault makes r the process's redactor, returned by Default. Main
// calls it once, after reading the configuration.
func SetDefault(r *Redactor) { def.Store(r) }

// Default is the redactor main built from the configuration, or nil (token
// shapes only) before that. Components take their redactor as a dependency
// and fall back to Default when none was given, so that a component built
// without one still knows the configured secrets: a forgotten wire must not
// become a leak.
func Default() *Redactor { return def.Load() }

// Or returns r, or Default when r is nil.
func Or(r *Redactor) *Redactor {
	if r != nil {
		return r
	}
	return Default()
}
