package executor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindPRTemplate(t *testing.T) {
	write := func(t *testing.T, dir, rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "secret.md")
	if err := os.WriteFile(outside, []byte("SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"none", func(*testing.T, string) {}, ""},
		{".github lower case", func(t *testing.T, d string) { write(t, d, ".github/pull_request_template.md", "gh") }, "gh"},
		{".github upper case", func(t *testing.T, d string) { write(t, d, ".github/PULL_REQUEST_TEMPLATE.md", "GH") }, "GH"},
		{"mixed case", func(t *testing.T, d string) { write(t, d, ".github/Pull_Request_Template.MD", "mixed") }, "mixed"},
		{"docs", func(t *testing.T, d string) { write(t, d, "docs/pull_request_template.md", "docs") }, "docs"},
		{"root", func(t *testing.T, d string) { write(t, d, "PULL_REQUEST_TEMPLATE.md", "root") }, "root"},
		{".github before root before docs", func(t *testing.T, d string) {
			write(t, d, "docs/pull_request_template.md", "docs")
			write(t, d, "pull_request_template.md", "root")
			write(t, d, ".github/pull_request_template.md", "gh")
		}, "gh"},
		{"root before docs", func(t *testing.T, d string) {
			write(t, d, "docs/pull_request_template.md", "docs")
			write(t, d, "pull_request_template.md", "root")
		}, "root"},
		{"blank template skipped", func(t *testing.T, d string) {
			write(t, d, ".github/pull_request_template.md", " \n\n")
			write(t, d, "docs/pull_request_template.md", "docs")
		}, "docs"},
		{"template directory is not a template", func(t *testing.T, d string) {
			write(t, d, ".github/PULL_REQUEST_TEMPLATE/pull_request_template.md", "one of several")
		}, ""},
		{"other names ignored", func(t *testing.T, d string) { write(t, d, ".github/pull_request_template.txt.md", "x") }, ""},
		{"symlinked file not followed", func(t *testing.T, d string) {
			write(t, d, ".github/keep", "")
			if err := os.Symlink(outside, filepath.Join(d, ".github", "pull_request_template.md")); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"symlinked directory not followed", func(t *testing.T, d string) {
			elsewhere := t.TempDir()
			write(t, elsewhere, "pull_request_template.md", "SECRET")
			if err := os.Symlink(elsewhere, filepath.Join(d, "docs")); err != nil {
				t.Fatal(err)
			}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			if got := findPRTemplate(dir); got != tc.want {
				t.Errorf("findPRTemplate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFindPRTemplate_CapsItsSize(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("é", maxPRTemplateBytes) // two bytes each
	if err := os.WriteFile(filepath.Join(dir, "pull_request_template.md"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	got := findPRTemplate(dir)
	if !strings.HasSuffix(got, "… (cut)") || len(got) > maxPRTemplateBytes+len("\n… (cut)") || !strings.HasPrefix(got, "éé") {
		t.Fatalf("template of %d bytes came back as %d bytes ending %q", len(big), len(got), got[len(got)-12:])
	}
}
