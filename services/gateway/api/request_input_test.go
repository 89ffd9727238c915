package api

import (
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/pkg/repourl"
)

// Secure by default: input. parseCreate refuses control characters in the
// free-text fields and a user_request over its cap, naming the field.
func TestParseCreate_FreeText(t *testing.T) {
	str := func(s string) *string { return &s }
	const repo = "https://github.com/acme/demo"
	tests := []struct {
		name        string
		repo, req   string
		max         int
		want        string // "" = accepted
		wantRequest string
	}{
		{"plain", repo, "Fix it", 10, "", "Fix it"},
		{"tab, CR and LF kept; blanks around trimmed", repo, "  a\tb\r\nc\n ", 10, "", "a\tb\r\nc"},
		{"exactly the cap", repo, strings.Repeat("a", 10), 10, "", strings.Repeat("a", 10)},
		{"the cap counts after trimming", repo, " " + strings.Repeat("a", 10) + " ", 10, "", strings.Repeat("a", 10)},
		{"one byte over the cap", repo, strings.Repeat("a", 11), 10, "user_request: must be at most 10 bytes, got 11 (AWO_MAX_REQUEST_BYTES)", ""},
		{"multi-byte characters count in bytes", repo, strings.Repeat("é", 6), 10, "got 12", ""},
		{"NUL", repo, "a\x00b", 10, "user_request: control character U+0000 (NUL) at byte 1", ""},
		{"ESC", repo, "\x1b[0m", 10, "U+001B (ESC) at byte 0", ""},
		{"DEL", repo, "a\x7f", 10, "U+007F (DEL)", ""},
		{"C1", repo, "a\u0090", 10, "U+0090", ""},
		{"a trailing control trimming would hide", repo, "abc\u0085", 10, "U+0085 (NEL) at byte 3", ""},
		{"form feed before the text", repo, "\fabc", 10, "U+000C (FF) at byte 0", ""},
		{"control in the repository URL", repo + "\x1b", "Fix", 10, "repository_url: control character U+001B", ""},
		{"a repository URL over 2048 bytes", repo + "/" + strings.Repeat("x", 2048), "Fix", 10, "repository_url: must be at most 2048 bytes", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parseCreate(createBody{RepositoryURL: str(tc.repo), UserRequest: str(tc.req)}, repourl.Policy{}, tc.max)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if req.Requested.UserRequest != tc.wantRequest {
					t.Errorf("user_request = %q, want %q", req.Requested.UserRequest, tc.wantRequest)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if status, _ := errorResponse(err); status != 422 {
				t.Errorf("status = %d, want 422", status)
			}
		})
	}
}

// The body cap stays at least 1 MiB and always leaves room for a
// user_request at its cap escaped six-fold.
func TestBodyLimit(t *testing.T) {
	for _, max := range []int{1, 1000, config.DefaultMaxRequestBytes, config.MaxRequestBytesLimit, 1 << 20} {
		got := bodyLimit(max)
		if got < 1<<20 || got < 6*int64(max)+1024 {
			t.Errorf("bodyLimit(%d) = %d, want at least 1 MiB and six times the cap", max, got)
		}
	}
	if got := bodyLimit(config.DefaultMaxRequestBytes); got != 1<<20 {
		t.Errorf("bodyLimit(default) = %d, want the seed's 1 MiB", got)
	}
}

func TestInvalidUTF8At(t *testing.T) {
	for in, want := range map[string]int{"": 0, "abc": 3, "a\xffb": 1, "é\xc3": 2, "\x80": 0, "ok 🙃": 7} {
		if got := invalidUTF8At([]byte(in)); got != want {
			t.Errorf("invalidUTF8At(%q) = %d, want %d", in, got, want)
		}
	}
}
