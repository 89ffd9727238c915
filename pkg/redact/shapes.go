package redact

import (
	"regexp"
	"strings"
)

// shape is a well-known kind of secret. Its regular expression runs only
// on text holding one of its anchors, a fixed part every match contains:
// most text holds none, and strings.Contains is much cheaper than a regular
// expression search. The expressions start with a literal where they can
// (no leading \b, no alternation), because Go's regexp then skips ahead
// with a fast substring search; word boundaries before a match are checked
// by hand instead.
type shape struct {
	name    string
	anchors []string
	// re matches the secret; when it has a group named "s", only that
	// group is replaced and the rest of the match kept.
	re *regexp.Regexp
	// wordStart: a match must not follow a letter, digit or underscore.
	wordStart bool
	// valid, when set, decides for each match whether it is a secret.
	valid func(string) bool
}

func (s *shape) present(text string) bool {
	for _, a := range s.anchors {
		if strings.Contains(text, a) {
			return true
		}
	}
	return false
}

func (s *shape) apply(text string) string {
	locs := s.re.FindAllStringSubmatchIndex(text, -1)
	if locs == nil {
		return text
	}
	group := s.re.SubexpIndex("s")
	var b strings.Builder
	last := 0
	for _, loc := range locs {
		start, end := loc[0], loc[1]
		if s.wordStart && start > 0 && isWordByte(text[start-1]) {
			continue
		}
		if s.valid != nil && !s.valid(text[start:end]) {
			continue
		}
		if group > 0 && loc[2*group] >= 0 {
			start, end = loc[2*group], loc[2*group+1]
		}
		b.WriteString(text[last:start])
		b.WriteString(Mask)
		last = end
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// shapes are applied in order: a private key block first, so that the
// tokens inside it need no further look.
var shapes = []shape{
	{
		// The whole block, to its END line; a block cut short (a truncated
		// log line) is redacted to the end of the text.
		name:    "private key block",
		anchors: []string{"-----BEGIN"},
		re:      regexp.MustCompile(`(?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\z)`),
	},
	{
		// A NATS credentials file's seed block (NATS_CREDS): the seed is
		// the user's private key.
		name:    "NATS nkey seed block",
		anchors: []string{"NKEY SEED-"},
		re:      regexp.MustCompile(`(?s)-{3,}BEGIN[A-Z ]*NKEY SEED-{3,}.*?(?:-{3,}END[A-Z ]*NKEY SEED-{3,}|\z)`),
	},
	{
		// A JSON Web Token: Supabase's service keys, OAuth access tokens,
		// NATS user JWTs. Header and payload are base64url JSON objects,
		// so both start with "eyJ".
		name:      "JSON Web Token",
		anchors:   []string{"eyJ"},
		re:        regexp.MustCompile(`eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*`),
		wordStart: true,
	},
	{
		name:      "GitHub token",
		anchors:   []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"},
		re:        regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{30,}`),
		wordStart: true,
	},
	{
		name:      "GitHub fine-grained token",
		anchors:   []string{"github_pat_"},
		re:        regexp.MustCompile(`github_pat_[A-Za-z0-9_]{20,}`),
		wordStart: true,
	},
	{
		// sk-ant-api03-… and OpenAI's sk-…, sk-proj-…. Kebab-case words
		// ("sk-learn-model-selection-guide") have the same alphabet: a key
		// needs 20 characters after "sk-" with a digit among them, and
		// "sk-" must start a word ("task-force-…" is not one).
		name:      "Anthropic or OpenAI key",
		anchors:   []string{"sk-"},
		re:        regexp.MustCompile(`sk-[A-Za-z0-9_\-]{20,}`),
		wordStart: true,
		valid:     func(m string) bool { return strings.ContainsAny(m, "0123456789") },
	},
	{
		name:      "AWS access key id",
		anchors:   []string{"AKIA", "ASIA"},
		re:        regexp.MustCompile(`A[KS]IA[A-Z0-9]{16}\b`),
		wordStart: true,
	},
	{
		// The header's value after its scheme: "Authorization: Bearer x",
		// "authorization=token x", `"Authorization": "Basic x"`.
		name:    "Authorization value",
		anchors: []string{"uthorization", "UTHORIZATION"},
		re:      regexp.MustCompile(`(?i)authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|digest|bot)\s+)?(?P<s>[^\s"'\\,;]+)`),
	},
	{
		// A bearer token without its header name (curl's -H value cut
		// differently, a token printed by a script).
		name:    "bearer token",
		anchors: []string{"earer ", "EARER "},
		re:      regexp.MustCompile(`(?i)\bbearer\s+(?P<s>[A-Za-z0-9._~+/\-]{16,}=*)`),
	},
	{
		// scheme://user:password@host; the user name stays, so the reader
		// still knows which account it was.
		name:    "password in a URL",
		anchors: []string{"://"},
		re:      regexp.MustCompile(`://[^\s:/@"'<>]*:(?P<s>[^\s/@"'<>]+)@`),
	},
}
