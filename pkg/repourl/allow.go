package repourl

import (
	"errors"
	"fmt"
	"strings"
)

// Pattern is one entry of an allow list (AWO_ALLOWED_REPOSITORIES):
//
//	host[:port]/seg/…/seg     exactly that repository
//	host[:port]/seg/…/*       every repository below seg/…, at any depth
//	host[:port]/*             every repository on the host
//
// The host is compared without regard to case; a pattern without a port
// matches the host on any port, one with a port only on that port. Path
// segments are compared exactly (case matters, so a pattern never lets in
// more than it names); a trailing ".git" or "/" is ignored on both sides.
// '*' is only allowed as the whole last segment; there is no other glob.
// The same pattern covers the https, ssh and scp-like (user@host:path)
// forms of a URL: the scheme and the ssh user are not part of it.
type Pattern struct {
	host     string // lower case, without port; an IPv6 address in brackets
	port     string // "" matches any port
	segs     []string
	wildcard bool
	text     string
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.text }

// ParsePattern parses one allow-list entry.
func ParsePattern(s string) (Pattern, error) {
	text := strings.TrimSpace(s)
	bad := func(why string) (Pattern, error) { return Pattern{}, fmt.Errorf("pattern %q %s", text, why) }
	switch {
	case text == "":
		return bad("is empty")
	case strings.Contains(text, "://"):
		return bad("must not carry a scheme: write host/owner/name, it covers https, ssh and user@host: forms alike")
	case strings.Contains(text, "@"):
		return bad("must not carry a user name: write host/owner/name")
	}
	authority, path, _ := strings.Cut(text, "/")
	host, err := parseHostPort(text, authority, true)
	if err != nil {
		return bad("has an invalid host")
	}
	p := Pattern{host: host, text: text}
	if i := strings.LastIndex(host, ":"); i >= 0 && !strings.HasSuffix(host, "]") {
		p.host, p.port = host[:i], host[i+1:]
	}
	path = strings.TrimSuffix(strings.TrimSuffix(path, "/"), ".git")
	if path == "" {
		return bad("names no path: add /* to allow every repository on the host, or /owner/name")
	}
	segs := strings.Split(path, "/")
	if segs[len(segs)-1] == "*" {
		p.wildcard, segs = true, segs[:len(segs)-1]
	}
	for _, s := range segs {
		switch {
		case s == "":
			return bad("has an empty path segment")
		case strings.Contains(s, "*"):
			return bad("has '*' other than as the whole last segment")
		case s == "." || s == ".." || !segmentPattern.MatchString(s):
			return bad(fmt.Sprintf("has an invalid path segment %q", s))
		}
	}
	p.segs = segs
	return p, nil
}

// Match reports whether the repository r is one the pattern names.
func (p Pattern) Match(r Repo) bool {
	host, port := r.Host, ""
	if i := strings.LastIndex(host, ":"); i >= 0 && !strings.HasSuffix(host, "]") {
		host, port = host[:i], host[i+1:]
	}
	if host != p.host || p.port != "" && port != p.port {
		return false
	}
	segs := append(strings.Split(r.Owner, "/"), r.Name)
	if len(segs) < len(p.segs) || !p.wildcard && len(segs) != len(p.segs) || p.wildcard && len(segs) == len(p.segs) {
		return false
	}
	for i, s := range p.segs {
		if segs[i] != s {
			return false
		}
	}
	return true
}

// Allowlist is the parsed AWO_ALLOWED_REPOSITORIES. The empty list allows
// every repository.
type Allowlist []Pattern

// ParseAllowlist parses comma-separated patterns (see Pattern); blank
// entries are skipped.
func ParseAllowlist(s string) (Allowlist, error) {
	var (
		list Allowlist
		errs []error
	)
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		p, err := ParsePattern(part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list = append(list, p)
	}
	return list, errors.Join(errs...)
}

// Allows reports whether r may be used. Local repositories (file:// URLs
// and paths) are not subject to the list: AWO_ALLOW_LOCAL_REPOS alone
// decides about them.
func (a Allowlist) Allows(r Repo) bool {
	if len(a) == 0 || r.Host == LocalHost {
		return true
	}
	for _, p := range a {
		if p.Match(r) {
			return true
		}
	}
	return false
}

// String lists the patterns as AWO_ALLOWED_REPOSITORIES spells them.
func (a Allowlist) String() string {
	s := make([]string, len(a))
	for i, p := range a {
		s[i] = p.text
	}
	return strings.Join(s, ",")
}

// Policy is everything that decides whether a repository URL may be used.
type Policy struct {
	AllowLocal bool      // AWO_ALLOW_LOCAL_REPOS
	Allowed    Allowlist // AWO_ALLOWED_REPOSITORIES
}

// Check parses raw (see Parse) and refuses a repository outside the allow
// list. Every error wraps workorder.ErrInvalid and shows raw masked.
func (p Policy) Check(raw string) (Repo, error) {
	r, err := Parse(raw, p.AllowLocal)
	if err != nil {
		return Repo{}, err
	}
	if !p.Allowed.Allows(r) {
		return Repo{}, invalid(raw, "is not in AWO_ALLOWED_REPOSITORIES (%s)", p.Allowed)
	}
	return r, nil
}
