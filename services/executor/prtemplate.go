package executor

import (
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentworkorders/awo/pkg/textcut"
)

// prTemplateName is the file GitHub fills a new pull request's description
// from; GitHub matches it whatever the case.
const prTemplateName = "pull_request_template.md"

// prTemplateDirs are where GitHub looks for it, in the order taken here:
// .github, the repository's root, docs.
var prTemplateDirs = []string{".github", ".", "docs"}

// maxPRTemplateBytes caps what a commit step's result carries: a template is
// a page of headings and checkboxes, and the result is an event.
const maxPRTemplateBytes = 16 << 10

// findPRTemplate returns the repository's pull request template from the
// checkout in dir, or "" when it has none. Only regular files inside the
// checkout count: a template (or a .github) that is a symbolic link could
// point at anything on the executor's disk.
func findPRTemplate(dir string) string {
	for _, sub := range prTemplateDirs {
		d := filepath.Join(dir, sub)
		if st, err := os.Lstat(d); err != nil || !st.IsDir() {
			continue
		}
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.EqualFold(e.Name(), prTemplateName) || !e.Type().IsRegular() {
				continue
			}
			text, ok := readCapped(filepath.Join(d, e.Name()), maxPRTemplateBytes)
			if ok && strings.TrimSpace(text) != "" {
				return text
			}
		}
	}
	return ""
}

// readCapped reads at most n bytes of a file, cut at a character boundary.
func readCapped(path string, n int) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(n)+1))
	if err != nil {
		return "", false
	}
	return textcut.Bytes(string(b), n, "\n… (cut)"), true
}
