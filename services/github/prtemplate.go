package github

import (
	"strings"

	"github.com/agentworkorders/awo/pkg/textcut"
)

// maxTemplateChars cuts a repository's pull request template so that the
// body, with every other section at its own limit, stays under GitHub's.
const maxTemplateChars = 6000

// fillTemplate puts summary into the repository's pull request template:
// in its first section, after the heading and the hidden guidance (<!--
// comments -->) that follows it, so the reviewer finds the description
// where the repository's authors want it; the rest (checklists, further
// sections) is left for people to fill. A template without a heading gets
// the summary as a section of its own above it.
func fillTemplate(tmpl, summary string) string {
	tmpl = strings.ReplaceAll(tmpl, "\r\n", "\n")
	tmpl = strings.Trim(textcut.Runes(tmpl, maxTemplateChars, sectionCut), "\n") + "\n"
	lines := strings.SplitAfter(tmpl, "\n")
	h := firstHeading(lines)
	if h < 0 {
		return "## Summary\n\n" + summary + "\n\n" + tmpl
	}
	i := skipGuidance(lines, h+1)
	before := strings.TrimRight(strings.Join(lines[:i], ""), "\n") + "\n"
	rest := strings.TrimLeft(strings.Join(lines[i:], ""), "\n")
	out := before + "\n" + summary + "\n"
	if rest != "" {
		out += "\n" + rest
	}
	return out
}

// firstHeading returns the index of the first ATX heading ("# …" to
// "###### …") outside code fences and HTML comments, or -1.
func firstHeading(lines []string) int {
	var fence, comment bool
	for i, line := range lines {
		t := strings.TrimSpace(line)
		switch {
		case comment:
			comment = !strings.Contains(t, "-->")
		case strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~"):
			fence = !fence
		case fence:
		case strings.HasPrefix(t, "<!--"):
			comment = !strings.Contains(t[4:], "-->")
		case isHeading(line):
			return i
		}
	}
	return -1
}

// isHeading reports an ATX heading: up to three spaces of indent, one to
// six '#', then a space or the end of the line ("#42" is not one).
func isHeading(line string) bool {
	line = strings.TrimRight(line, "\n")
	trimmed := strings.TrimLeft(line, " ")
	if len(line)-len(trimmed) > 3 {
		return false
	}
	n := len(trimmed) - len(strings.TrimLeft(trimmed, "#"))
	if n < 1 || n > 6 {
		return false
	}
	return n == len(trimmed) || trimmed[n] == ' ' || trimmed[n] == '\t'
}

// skipGuidance returns the index of the first line from i that is neither
// blank nor part of an HTML comment.
func skipGuidance(lines []string, i int) int {
	comment := false
	for ; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		switch {
		case comment:
			comment = !strings.Contains(t, "-->")
		case t == "":
		case strings.HasPrefix(t, "<!--"):
			comment = !strings.Contains(t[4:], "-->")
		default:
			return i
		}
	}
	return i
}
