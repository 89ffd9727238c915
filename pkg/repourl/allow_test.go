package repourl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
)

func TestAllowlist_Matching(t *testing.T) {
	list, err := repourl.ParseAllowlist(" github.com/acme/* , github.com/other/api.git, GitLab.Example.com/*, git.example.com:2222/team/app/, [2001:db8::1]/x/* ")
	if err != nil {
		t.Fatal(err)
	}
	policy := repourl.Policy{Allowed: list, AllowLocal: true}
	for _, raw := range []string{
		"https://github.com/acme/demo", "https://GITHUB.com/acme/demo.git/", "git@github.com:acme/demo.git",
		"ssh://git@github.com/acme/demo", "ssh://git@github.com:22/acme/demo", "https://github.com/other/api",
		"https://gitlab.example.com/group/sub/deep/app", "git@gitlab.example.com:g/app", "ssh://git@git.example.com:2222/team/app.git",
		"https://[2001:db8::1]/x/y", "file:///tmp/acme/demo", "/srv/git/whoever/repo",
	} {
		if _, err := policy.Check(raw); err != nil {
			t.Errorf("Check(%q): %v", raw, err)
		}
	}
	for _, raw := range []string{
		"https://github.com/acmecorp/demo", "https://github.com/ACME/demo", "https://github.com/other/api2",
		"https://github.com/other/web", "https://evil.com/acme/demo", "https://github.com.evil.com/acme/demo",
		"git@evil.com:acme/demo", "https://git.example.com/team/app", "ssh://git@git.example.com:2223/team/app",
		"https://git.example.com:2222/team/app/more", "https://sub.gitlab.example.com/g/app",
	} {
		_, err := policy.Check(raw)
		if err == nil {
			t.Errorf("Check(%q) accepted a repository outside the list", raw)
			continue
		}
		if !errors.Is(err, workorder.ErrInvalid) || !strings.Contains(err.Error(), "AWO_ALLOWED_REPOSITORIES") {
			t.Errorf("Check(%q) = %v, want ErrInvalid naming AWO_ALLOWED_REPOSITORIES", raw, err)
		}
	}
}

func TestAllowlist_EmptyAllowsEverythingParseAllows(t *testing.T) {
	list, err := repourl.ParseAllowlist(" , ")
	if err != nil || len(list) != 0 {
		t.Fatalf("ParseAllowlist(blank) = %v, %v", list, err)
	}
	if _, err := (repourl.Policy{}).Check("https://example.org/a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := (repourl.Policy{}).Check("https://127.0.0.1/a/b"); err == nil {
		t.Fatal("an empty list let a loopback host through")
	}
}

func TestParsePattern_RefusesWithAReason(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://github.com/acme/*", "scheme"},
		{"git@github.com:acme/*", "user name"},
		{"github.com", "names no path"},
		{"github.com/", "names no path"},
		{"github.com/ac*/x", "'*'"},
		{"github.com/*/api", "'*'"},
		{"github.com/acme/**", "'*'"},
		{"*.github.com/acme/x", "invalid host"},
		{"github.com//x", "empty path segment"},
		{"github.com/../x", "invalid path segment"},
		{"github.com/a b/x", "invalid path segment"},
	} {
		_, err := repourl.ParsePattern(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePattern(%q) = %v, want an error saying %q", tt.in, err, tt.want)
		}
	}
	if _, err := repourl.ParseAllowlist("github.com/acme/*,nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("ParseAllowlist with a bad entry = %v, want it to name the entry", err)
	}
}

func TestMask(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://user:hunter2@github.com/acme/demo", "https://****@github.com/acme/demo"},
		{"https://hunter2@github.com/acme/demo", "https://****@github.com/acme/demo"},
		{"https://ghp_x:x-oauth-basic@github.com/acme/demo", "https://****@github.com/acme/demo"},
		{"ssh://user:hunter2@host/acme/demo", "ssh://****@host/acme/demo"},
		{"ssh://git@host/acme/demo", "ssh://git@host/acme/demo"},
		{"user:hunter2@host:acme/demo", "****@host:acme/demo"},
		{"git@github.com:acme/demo.git", "git@github.com:acme/demo.git"},
		{"https://u:pa/ss@word@host/acme/demo", "https://****@host/acme/demo"},
		{"https://github.com/acme/demo?access_token=hunter2", "https://github.com/acme/demo?****"},
		{"https://github.com/acme/demo#hunter2", "https://github.com/acme/demo#****"},
		{"HTTP://u:hunter2@host/a/b", "HTTP://****@host/a/b"},
		{"https://github.com/acme/demo", "https://github.com/acme/demo"},
		{"file:///tmp/a/b", "file:///tmp/a/b"},
	} {
		if got := repourl.Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParse_RefusedCredentialsAreMaskedInTheError(t *testing.T) {
	for _, raw := range []string{
		"https://user:hunter2@github.com/acme/demo", "https://hunter2@github.com/acme/demo",
		"ssh://user:hunter2@github.com/acme/demo", "user:hunter2@github.com:acme/demo",
		"git:hunter2@github.com:acme/demo.git", "https://github.com/acme/demo?token=hunter2",
		"https://a:hunter2@127.0.0.1/acme/demo", "u:hunter2@10.0.0.1:acme/demo",
	} {
		_, err := repourl.Parse(raw, false)
		if err == nil {
			t.Errorf("Parse(%q) accepted credentials", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "****") {
			t.Errorf("Parse(%q) error %q must mask the secret as ****", raw, err)
		}
	}
}
