package github

import "testing"

func TestGhRepo(t *testing.T) {
	for _, tc := range []struct {
		raw        string
		allowLocal bool
		want       string // "" = error
	}{
		{"https://github.com/acme/demo", false, "acme/demo"},
		{"https://github.com/acme/demo.git", false, "acme/demo"},
		{"git@github.com:acme/demo.git", false, "acme/demo"},
		{"ssh://git@github.com/acme/demo", false, "acme/demo"},
		{"https://ghe.example.com/acme/demo", false, "ghe.example.com/acme/demo"},
		{"/srv/git/acme/demo.git", true, "acme/demo"},
		{"file:///srv/git/acme/demo.git", true, "acme/demo"},
		{"/srv/git/acme/demo.git", false, ""},
		{"ext::sh -c evil", false, ""},
		{"--upload-pack=evil", false, ""},
	} {
		got, err := ghRepo(tc.raw, tc.allowLocal)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ghRepo(%q, %v) = %q, want an error", tc.raw, tc.allowLocal, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ghRepo(%q, %v) = %q, %v; want %q", tc.raw, tc.allowLocal, got, err, tc.want)
		}
	}
}
