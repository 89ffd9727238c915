// Package repourl validates repository URLs before git sees them.
//
// A repository URL arrives from a REST client and ends up as an argument to
// git clone, so it is treated as hostile: git reads a leading '-' as an
// option, runs commands for "ext::" remote helpers, and logs credentials
// embedded in URLs. Parse accepts only the few forms a work order needs and
// explains in user words what is wrong with anything else.
package repourl

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agentworkorders/awo/pkg/textcut"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// LocalHost is the Host of a repository given as a file:// URL or a path.
const LocalHost = "local"

// gitHubHost is the host whose URLs must map onto a `gh --repo` slug.
const gitHubHost = "github.com"

// Repo is a validated repository location.
type Repo struct {
	// Host is the lower-case host name, with ":port" when the URL names a
	// port, or LocalHost for file:// URLs and local paths.
	Host string
	// Owner is the account or group. On hosts other than github.com it may
	// hold several segments ("group/subgroup"), as GitLab allows.
	Owner string
	// Name is the repository name without a ".git" suffix.
	Name string
}

// Slug returns "owner/name", the form `gh --repo` takes for github.com.
func (r Repo) Slug() string { return r.Owner + "/" + r.Name }

var (
	// Git treats "<scheme chars>::<address>" as a request to run the remote
	// helper git-remote-<scheme>; "ext::" runs an arbitrary command.
	transportPrefix = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*::`)
	schemePattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)
	hostPattern     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	userPattern     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	segmentPattern  = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	portPattern     = regexp.MustCompile(`^[0-9]{1,5}$`)
)

// Parse validates raw as a repository URL and splits it into host, owner and
// name. It accepts
//
//	https://host/owner/name[.git][/]
//	ssh://[user@]host[:port]/owner/name[.git]
//	user@host:owner/name[.git]
//
// and, only when allowLocal is set, file:///abs/path and /abs/path (Owner and
// Name are then the last two path elements). Every error wraps
// workorder.ErrInvalid.
func Parse(raw string, allowLocal bool) (Repo, error) {
	if raw == "" {
		return Repo{}, invalid(raw, "is empty")
	}
	if !utf8.ValidString(raw) {
		return Repo{}, invalid(raw, "is not valid UTF-8")
	}
	if strings.HasPrefix(raw, "-") {
		return Repo{}, invalid(raw, "must not start with '-' (git would read it as an option)")
	}
	if m := transportPrefix.FindString(raw); m != "" {
		return Repo{}, invalid(raw, "uses git's %q remote-helper form, which can run arbitrary commands; use https, ssh or user@host:owner/name", m)
	}
	for _, r := range raw {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return Repo{}, invalid(raw, "must not contain spaces or control characters")
		}
	}

	if scheme, rest, ok := strings.Cut(raw, "://"); ok && schemePattern.MatchString(scheme) {
		switch strings.ToLower(scheme) {
		case "https":
			return parseHierarchical(raw, rest, false, allowLocal)
		case "ssh":
			return parseHierarchical(raw, rest, true, allowLocal)
		case "http":
			return Repo{}, invalid(raw, "uses plain http, which sends code and credentials unencrypted; use https")
		case "file":
			if !allowLocal {
				return Repo{}, invalid(raw, "points at a local repository, which this server does not allow")
			}
			return parseFileURL(raw, rest)
		default:
			return Repo{}, invalid(raw, "uses the unsupported scheme %q; use https, ssh or user@host:owner/name", scheme)
		}
	}
	if strings.HasPrefix(raw, "/") {
		if !allowLocal {
			return Repo{}, invalid(raw, "is a local path, which this server does not allow")
		}
		return parseLocalPath(raw, raw)
	}
	if user, hostPath, ok := strings.Cut(raw, "@"); ok {
		if host, path, ok := strings.Cut(hostPath, ":"); ok && !strings.Contains(user, "/") && !strings.Contains(host, "/") {
			return parseSCP(raw, user, host, path, allowLocal)
		}
	}
	return Repo{}, invalid(raw, "must look like https://host/owner/name, ssh://host/owner/name or user@host:owner/name")
}

// parseHierarchical handles https:// and ssh:// after the "://".
func parseHierarchical(raw, rest string, ssh, allowLocal bool) (Repo, error) {
	if strings.ContainsAny(rest, "?#") {
		return Repo{}, invalid(raw, "must not carry a query or fragment (?… or #…)")
	}
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo := authority[:at]
		authority = authority[at+1:]
		if strings.Contains(userinfo, ":") {
			return Repo{}, invalid(raw, "must not carry a password: URLs end up in logs; give credentials to git or gh instead")
		}
		if !ssh {
			// A lone https user name is how tokens are usually smuggled in
			// (https://<token>@github.com/...), so it is refused as well.
			return Repo{}, invalid(raw, "must not carry a user name or token: URLs end up in logs; give credentials to git or gh instead")
		}
		if err := checkUser(raw, userinfo); err != nil {
			return Repo{}, err
		}
	}
	host, err := parseHostPort(raw, authority, allowLocal)
	if err != nil {
		return Repo{}, err
	}
	return withPath(raw, host, path)
}

// parseSCP handles git's scp-like form user@host:path.
func parseSCP(raw, user, host, path string, allowLocal bool) (Repo, error) {
	if strings.ContainsAny(raw, "?#") {
		return Repo{}, invalid(raw, "must not carry a query or fragment (?… or #…)")
	}
	if err := checkUser(raw, user); err != nil {
		return Repo{}, err
	}
	h, err := checkHost(raw, host, allowLocal)
	if err != nil {
		return Repo{}, err
	}
	// git@host:/srv/repo.git is an absolute path on the server; the leading
	// slash does not change which owner/name it names.
	return withPath(raw, h, strings.TrimPrefix(path, "/"))
}

func parseFileURL(raw, rest string) (Repo, error) {
	if strings.ContainsAny(rest, "?#") {
		return Repo{}, invalid(raw, "must not carry a query or fragment (?… or #…)")
	}
	authority, path, _ := strings.Cut(rest, "/")
	if authority != "" && !strings.EqualFold(authority, "localhost") {
		return Repo{}, invalid(raw, "names the host %q; file:// URLs must be file:///absolute/path", authority)
	}
	return parseLocalPath(raw, "/"+path)
}

func parseLocalPath(raw, path string) (Repo, error) {
	var elems []string
	for _, e := range strings.Split(path, "/") {
		switch e {
		case "", ".":
			continue
		case "..":
			return Repo{}, invalid(raw, "must not contain '..'")
		}
		elems = append(elems, e)
	}
	if len(elems) < 2 {
		return Repo{}, invalid(raw, "must name a repository directory inside an owner directory (/…/owner/name)")
	}
	name := strings.TrimSuffix(elems[len(elems)-1], ".git")
	if name == "" {
		return Repo{}, invalid(raw, "is missing the repository name")
	}
	return Repo{Host: LocalHost, Owner: elems[len(elems)-2], Name: name}, nil
}

func checkUser(raw, user string) error {
	if user == "" {
		return invalid(raw, "has an empty user name before '@'")
	}
	if !userPattern.MatchString(user) {
		return invalid(raw, "has a user name that is not letters, digits, '.', '_' and '-' (or starts with one of '.-')")
	}
	return nil
}

// parseHostPort splits and validates "host[:port]" or "[ipv6][:port]".
func parseHostPort(raw, authority string, allowLocal bool) (string, error) {
	if authority == "" {
		return "", invalid(raw, "is missing the host")
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.Index(authority, "]")
		if end < 0 {
			return "", invalid(raw, "has an unterminated IPv6 address")
		}
		host = authority[:end+1]
		switch after := authority[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
		default:
			return "", invalid(raw, "has text after the IPv6 address")
		}
		// Zones (fe80::1%eth0) only make sense on the local link.
		if ip, err := netip.ParseAddr(host[1 : len(host)-1]); err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", invalid(raw, "has an invalid IPv6 address %q", host)
		}
		host = strings.ToLower(host)
		if err := checkLocal(raw, host, allowLocal); err != nil {
			return "", err
		}
	} else {
		if h, p, ok := strings.Cut(authority, ":"); ok {
			host, port = h, p
		}
		h, err := checkHost(raw, host, allowLocal)
		if err != nil {
			return "", err
		}
		host = h
	}
	if port == "" {
		if strings.HasSuffix(authority, ":") {
			return "", invalid(raw, "has an empty port after ':'")
		}
		return host, nil
	}
	n, err := strconv.Atoi(port)
	if !portPattern.MatchString(port) || err != nil || n < 1 || n > 65535 {
		return "", invalid(raw, "has an invalid port %q", port)
	}
	return host + ":" + port, nil
}

func checkHost(raw, host string, allowLocal bool) (string, error) {
	if host == "" {
		return "", invalid(raw, "is missing the host")
	}
	h := strings.ToLower(host)
	if !hostPattern.MatchString(h) {
		// The pattern also refuses a leading '-', which ssh would read as an
		// option (CVE-2017-1000117).
		return "", invalid(raw, "has an invalid host name %q", host)
	}
	if err := checkLocal(raw, h, allowLocal); err != nil {
		return "", err
	}
	return h, nil
}

// checkLocal refuses a host on the executor's own machine or network
// (see localKind) unless local repositories are allowed, and a host that
// looks like an IPv4 address but is not one in any case.
func checkLocal(raw, host string, allowLocal bool) error {
	kind, ok := localKind(host)
	switch {
	case !ok:
		return invalid(raw, "has a host %q that looks like an IP address but is not a valid one", host)
	case kind != "" && !allowLocal:
		return invalid(raw, "names a %s address (%s); repositories on the local machine or network are refused unless AWO_ALLOW_LOCAL_REPOS=true", kind, host)
	}
	return nil
}

// withPath validates "owner/name[.git][/]" and builds the Repo.
func withPath(raw, host, path string) (Repo, error) {
	if strings.Contains(path, "..") {
		return Repo{}, invalid(raw, "must not contain '..'")
	}
	p := strings.TrimSuffix(strings.TrimSuffix(path, "/"), ".git")
	if p == "" {
		return Repo{}, invalid(raw, "is missing the owner and repository name (…/owner/name)")
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		switch {
		case s == "":
			return Repo{}, invalid(raw, "has an empty path segment ('//')")
		case s == ".":
			return Repo{}, invalid(raw, "must not contain '.' as a path segment")
		case strings.HasPrefix(s, "-"):
			return Repo{}, invalid(raw, "has a path segment %q starting with '-'", s)
		case !segmentPattern.MatchString(s):
			return Repo{}, invalid(raw, "has a path segment %q with characters other than letters, digits, '.', '_' and '-'", s)
		}
	}
	if len(segs) < 2 {
		return Repo{}, invalid(raw, "must name both the owner and the repository (…/owner/name)")
	}
	hostname := host
	if i := strings.LastIndex(host, ":"); i >= 0 && !strings.HasSuffix(host, "]") {
		hostname = host[:i]
	}
	if hostname == gitHubHost && len(segs) != 2 {
		return Repo{}, invalid(raw, "must be exactly github.com/owner/name (no further path such as /tree/main)")
	}
	return Repo{
		Host:  host,
		Owner: strings.Join(segs[:len(segs)-1], "/"),
		Name:  segs[len(segs)-1],
	}, nil
}

// CacheKey returns a stable, short, path-safe key for the clone cache of the
// repository at raw. Spellings that differ only by a trailing "/" or ".git"
// share a key, because they name the same remote.
func CacheKey(raw string) string {
	norm := strings.TrimSuffix(strings.TrimSuffix(raw, "/"), ".git")
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:8])
}

// invalid builds a user-facing error that never echoes credentials.
func invalid(raw, format string, args ...any) error {
	return fmt.Errorf("%w: repository URL %s %s", workorder.ErrInvalid, quote(raw), fmt.Sprintf(format, args...))
}

// quote prepares raw for an error message: credentials are masked (see
// Mask) and very long input is cut.
func quote(raw string) string {
	raw = Mask(raw)
	const maxRunes = 200
	return strconv.Quote(textcut.Runes(raw, maxRunes, "…"))
}
