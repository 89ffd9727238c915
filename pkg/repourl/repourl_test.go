package repourl_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestParse_AcceptsSupportedForms(t *testing.T) {
	demo := repourl.Repo{Host: "github.com", Owner: "acme", Name: "demo"}
	tests := []struct {
		name       string
		raw        string
		allowLocal bool
		want       repourl.Repo
	}{
		{"https", "https://github.com/acme/demo", false, demo},
		{"https with .git", "https://github.com/acme/demo.git", false, demo},
		{"https with trailing slash", "https://github.com/acme/demo/", false, demo},
		{"https with .git and slash", "https://github.com/acme/demo.git/", false, demo},
		{"https upper-case scheme and host", "HTTPS://GitHub.com/acme/demo", false, demo},
		{"https with port", "https://git.example.com:8443/team/app", false, repourl.Repo{Host: "git.example.com:8443", Owner: "team", Name: "app"}},
		{"https nested group off GitHub", "https://gitlab.com/group/sub/app.git", false, repourl.Repo{Host: "gitlab.com", Owner: "group/sub", Name: "app"}},
		{"https names with dots and underscores", "https://github.com/my-org/my_repo.v2", false, repourl.Repo{Host: "github.com", Owner: "my-org", Name: "my_repo.v2"}},
		{"https dot-prefixed repo", "https://github.com/acme/.github", false, repourl.Repo{Host: "github.com", Owner: "acme", Name: ".github"}},
		{"ssh", "ssh://git@github.com/acme/demo.git", false, demo},
		{"ssh without user", "ssh://github.com/acme/demo", false, demo},
		{"ssh with port", "ssh://git@git.example.com:2222/team/app.git", false, repourl.Repo{Host: "git.example.com:2222", Owner: "team", Name: "app"}},
		{"ssh IPv6 host", "ssh://git@[2001:db8::1]:22/team/app", false, repourl.Repo{Host: "[2001:db8::1]:22", Owner: "team", Name: "app"}},
		{"ssh loopback IPv6 host when local allowed", "ssh://git@[::1]:22/team/app", true, repourl.Repo{Host: "[::1]:22", Owner: "team", Name: "app"}},
		{"https public IPv4", "https://140.82.112.3/acme/demo", false, repourl.Repo{Host: "140.82.112.3", Owner: "acme", Name: "demo"}},
		{"https loopback when local allowed", "https://127.0.0.1:8443/acme/demo", true, repourl.Repo{Host: "127.0.0.1:8443", Owner: "acme", Name: "demo"}},
		{"scp-like", "git@github.com:acme/demo.git", false, demo},
		{"scp-like without .git", "git@github.com:acme/demo", false, demo},
		{"scp-like absolute server path", "git@git.example.com:/srv/git/app.git", false, repourl.Repo{Host: "git.example.com", Owner: "srv/git", Name: "app"}},
		{"file URL when allowed", "file:///tmp/remotes/acme/demo.git", true, repourl.Repo{Host: repourl.LocalHost, Owner: "acme", Name: "demo"}},
		{"file URL with localhost", "file://localhost/tmp/acme/demo", true, repourl.Repo{Host: repourl.LocalHost, Owner: "acme", Name: "demo"}},
		{"absolute path when allowed", "/srv/git/acme/demo.git/", true, repourl.Repo{Host: repourl.LocalHost, Owner: "acme", Name: "demo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := repourl.Parse(tt.raw, tt.allowLocal)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.raw, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParse_RejectsWithAReason(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		allowLocal bool
		wantMsg    string
	}{
		{"empty", "", true, "is empty"},
		{"space inside", "https://github.com/acme/de mo", true, "spaces or control characters"},
		{"leading space", " https://github.com/acme/demo", true, "spaces or control characters"},
		{"trailing newline", "https://github.com/acme/demo\n", true, "spaces or control characters"},
		{"NUL byte", "https://github.com/acme/demo\x00", true, "spaces or control characters"},
		{"invalid UTF-8", "https://github.com/acme/\xff", true, "UTF-8"},
		{"leading dash", "--upload-pack=touch /tmp/pwned", true, "must not start with '-'"},
		{"dash option as host", "ssh://-oProxyCommand=touch%20x/acme/demo", true, "invalid host name"},
		{"dash option as user", "ssh://-oProxyCommand@github.com/acme/demo", true, "user name"},
		{"dash option in scp host", "git@-oProxyCommand=x:acme/demo", true, "invalid host name"},
		{"dash-led owner", "https://github.com/-acme/demo", true, "starting with '-'"},
		{"dash-led name", "git@github.com:acme/--help", true, "starting with '-'"},
		{"ext transport", "ext::sh -c touch% /tmp/pwned", true, "remote-helper"},
		{"ext transport without spaces", "ext::sh", true, "remote-helper"},
		{"fd transport", "fd::0", true, "remote-helper"},
		{"any helper transport", "persistent-https::github.com/acme/demo", true, "remote-helper"},
		{"plain http", "http://github.com/acme/demo", true, "plain http"},
		{"https with password", "https://user:hunter2@github.com/acme/demo", true, "password"},
		{"https with token as user", "https://ghp_secret@github.com/acme/demo", true, "token"},
		{"ssh with password", "ssh://git:hunter2@github.com/acme/demo", true, "password"},
		{"query", "https://github.com/acme/demo?ref=main", true, "query or fragment"},
		{"fragment", "https://github.com/acme/demo#readme", true, "query or fragment"},
		{"empty query", "https://github.com/acme/demo?", true, "query or fragment"},
		{"scp with query", "git@github.com:acme/demo?x=1", true, "query or fragment"},
		{"dot-dot segment", "https://github.com/acme/../etc", true, "'..'"},
		{"dot-dot inside segment", "https://github.com/acme/demo..git", true, "'..'"},
		{"dot segment", "https://github.com/./demo", true, "'.'"},
		{"scp dot-dot", "git@github.com:../../etc/passwd", true, "'..'"},
		{"local dot-dot", "/srv/git/../../etc/acme/demo", true, "'..'"},
		{"percent-encoded dot-dot", "https://github.com/acme/%2e%2e", true, "characters other than"},
		{"missing owner and name", "https://github.com", true, "missing the owner"},
		{"missing owner and name with slash", "https://github.com/", true, "missing the owner"},
		{"missing name", "https://github.com/acme", true, "both the owner and the repository"},
		{"missing name scp", "git@github.com:acme.git", true, "both the owner and the repository"},
		{"name only .git", "https://github.com/acme/.git", true, "empty path segment"},
		{"empty segment", "https://github.com/acme//demo", true, "empty path segment"},
		{"GitHub deep link", "https://github.com/acme/demo/tree/main", true, "exactly github.com/owner/name"},
		{"missing host", "https:///acme/demo", true, "missing the host"},
		{"bad host", "https://git_hub.com/acme/demo", true, "invalid host name"},
		{"empty port", "https://github.com:/acme/demo", true, "empty port"},
		{"port out of range", "https://github.com:70000/acme/demo", true, "invalid port"},
		{"port not numeric", "ssh://github.com:ssh/acme/demo", true, "invalid port"},
		{"IPv4 in brackets", "ssh://[127.0.0.1]/acme/demo", true, "invalid IPv6"},
		{"unterminated IPv6", "ssh://[::1/acme/demo", true, "unterminated IPv6"},
		{"unsupported scheme", "ftp://example.com/acme/demo", true, "unsupported scheme"},
		{"git protocol", "git://github.com/acme/demo", true, "unsupported scheme"},
		{"file URL not allowed", "file:///tmp/acme/demo.git", false, "does not allow"},
		{"local path not allowed", "/tmp/acme/demo.git", false, "does not allow"},
		{"file URL with a host", "file://evil.example.com/acme/demo", true, "file:///absolute/path"},
		{"local path too shallow", "/demo.git", true, "inside an owner directory"},
		{"relative path", "acme/demo", true, "must look like"},
		{"scp without user", "github.com:acme/demo", true, "must look like"},
		{"scp empty user", "@github.com:acme/demo", true, "empty user name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := repourl.Parse(tt.raw, tt.allowLocal)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.raw, got)
			}
			if !errors.Is(err, workorder.ErrInvalid) {
				t.Errorf("error %v does not wrap workorder.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestParse_ErrorsNeverEchoCredentials(t *testing.T) {
	for _, raw := range []string{
		"https://user:hunter2@github.com/acme/demo",
		"https://hunter2@github.com/acme/demo",
		"http://user:hunter2@github.com/acme/demo",
		"ssh://git:hunter2@github.com/acme/demo",
		"https://hunter2@github.com/acme/../demo",
	} {
		_, err := repourl.Parse(raw, false)
		if err == nil {
			t.Fatalf("Parse(%q) accepted", raw)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error for %q leaks the secret: %v", raw, err)
		}
	}
}

func TestParse_LongInputIsCutInTheMessage(t *testing.T) {
	raw := "ftp://example.com/" + strings.Repeat("a", 5000)
	_, err := repourl.Parse(raw, false)
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("want a short error, got %d bytes: %v", len(err.Error()), err)
	}
}

func TestRepo_Slug(t *testing.T) {
	r, err := repourl.Parse("git@github.com:acme/demo.git", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Slug(); got != "acme/demo" {
		t.Errorf("Slug() = %q, want acme/demo", got)
	}
}

func TestCacheKey(t *testing.T) {
	a := repourl.CacheKey("https://github.com/acme/demo")
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(a) {
		t.Fatalf("CacheKey = %q, want 16 hex digits", a)
	}
	for _, same := range []string{"https://github.com/acme/demo.git", "https://github.com/acme/demo/", "https://github.com/acme/demo.git/"} {
		if got := repourl.CacheKey(same); got != a {
			t.Errorf("CacheKey(%q) = %s, want %s like the plain URL", same, got, a)
		}
	}
	for _, other := range []string{"https://github.com/acme/demo2", "git@github.com:acme/demo", "ssh://git@github.com/acme/demo", "https://github.com/acme/other"} {
		if repourl.CacheKey(other) == a {
			t.Errorf("CacheKey(%q) collides with https://github.com/acme/demo", other)
		}
	}
}

// FuzzParse checks the safety properties that must hold for anything Parse
// accepts, whatever the input. Run with: go test -fuzz=FuzzParse ./pkg/repourl
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"https://github.com/acme/demo", "https://github.com/acme/demo.git/", "ssh://git@host:22/a/b.git",
		"ssh://git@[::1]:22/a/b", "git@github.com:acme/demo.git", "file:///tmp/a/b.git", "/srv/a/b",
		"", "-", "--upload-pack=x", "ext::sh -c x", "fd::3", "http://github.com/a/b",
		"https://u:p@github.com/a/b", "https://github.com/a/b?x#y", "https://github.com/a/../b",
		"git@-oProxyCommand=x:a/b", "ssh://-oProxyCommand=x/a/b", "git@host:a//b", "https://github.com/a/b/c",
		"ssh://[::1", "git@h:/a/b", "HTTPS://GITHUB.COM/A/B", "https://h:0/a/b",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowLocal bool) {
		r, err := repourl.Parse(raw, allowLocal)
		if err != nil {
			if !errors.Is(err, workorder.ErrInvalid) {
				t.Fatalf("Parse(%q) error does not wrap ErrInvalid: %v", raw, err)
			}
			return
		}
		if strings.HasPrefix(raw, "-") || strings.Contains(raw, "::") && !strings.Contains(raw, "[") {
			t.Fatalf("Parse(%q) accepted an option or remote-helper form", raw)
		}
		for _, c := range raw {
			if unicode.IsSpace(c) || unicode.IsControl(c) {
				t.Fatalf("Parse(%q) accepted a space or control character", raw)
			}
		}
		if strings.HasPrefix(strings.ToLower(raw), "http://") {
			t.Fatalf("Parse(%q) accepted plain http", raw)
		}
		if r.Owner == "" || r.Name == "" || r.Host == "" {
			t.Fatalf("Parse(%q) = %+v with an empty part", raw, r)
		}
		if r.Host == repourl.LocalHost {
			if !allowLocal {
				t.Fatalf("Parse(%q) accepted a local repository without allowLocal", raw)
			}
		} else {
			if strings.ContainsAny(raw, "?#") {
				t.Fatalf("Parse(%q) accepted a query or fragment", raw)
			}
			for _, part := range strings.Split(r.Slug(), "/") {
				if part == "" || strings.Contains(part, "..") || strings.HasPrefix(part, "-") {
					t.Fatalf("Parse(%q) = %+v has an unsafe path segment %q", raw, r, part)
				}
			}
		}
		if strings.HasPrefix(r.Host, "-") {
			t.Fatalf("Parse(%q) accepted host %q", raw, r.Host)
		}
		// Anything accepted without local access is accepted the same way with it.
		if !allowLocal {
			r2, err := repourl.Parse(raw, true)
			if err != nil || r2 != r {
				t.Fatalf("Parse(%q, true) = %+v, %v; Parse(…, false) = %+v", raw, r2, err, r)
			}
		}
		if r.Host == "github.com" && strings.Count(r.Slug(), "/") != 1 {
			t.Fatalf("Parse(%q): GitHub slug %q is not owner/name", raw, r.Slug())
		}
		if len(repourl.CacheKey(raw)) != 16 {
			t.Fatalf("CacheKey(%q) = %q", raw, repourl.CacheKey(raw))
		}
	})
}
