package api

import (
	"encoding/json"
	"testing"
)

func TestIssueMentioned(t *testing.T) {
	tests := []struct{ request, want string }{
		{"Fix issue #42", "42"},
		{"fix Issue 42 please", "42"},
		{"see issue#7", "7"},
		{"#12 is broken", "12"},
		{"Fix the bug in (#99)", "99"},
		{"first #3 then issue #4", "3"},
		{"Fix authentication bug", ""},
		{"upgrade to C#10", ""},
		{"issue #0", ""},
		{"tissue 42", ""},
		{"reissue #5", "5"},
		{"port 8080", ""},
	}
	for _, tc := range tests {
		if got := issueMentioned(tc.request); got != tc.want {
			t.Errorf("issueMentioned(%q) = %q, want %q", tc.request, got, tc.want)
		}
	}
}

func TestParseIssueNumber(t *testing.T) {
	tests := []struct {
		raw     string
		want    string
		wantErr bool
	}{
		{``, "", false},
		{`null`, "", false},
		{`""`, "", false},
		{`" 42 "`, "42", false},
		{`"#42"`, "42", false},
		{`42`, "42", false},
		{`0`, "", true},
		{`"007"`, "", true},
		{`-1`, "", true},
		{`1e3`, "", true},
		{`"12345678901"`, "", true},
		{`true`, "", true},
		{`[1]`, "", true},
		{`"4 2"`, "", true},
	}
	for _, tc := range tests {
		got, err := parseIssueNumber(json.RawMessage(tc.raw))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("parseIssueNumber(%s) = %q, %v; want %q, error %v", tc.raw, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"Application/JSON":                  true,
		"application/merge-patch+json":      true,
		"text/plain":                        false,
		"application/x-www-form-urlencoded": false,
		"multipart/form-data; boundary=x":   false,
		"text/json+xml":                     false,
	} {
		if got := isJSON(ct); got != want {
			t.Errorf("isJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}
