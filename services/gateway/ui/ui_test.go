package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServe_PathsAnswerTheRightFile(t *testing.T) {
	h := newHandler(t)
	index, _ := static.ReadFile("static/index.html")
	app, _ := static.ReadFile("static/js/app.js")
	tests := []struct {
		target string
		status int
		ctype  string
		body   []byte // nil: not checked
	}{
		{"/ui/", 200, "text/html; charset=utf-8", index},
		{"/ui", 200, "text/html; charset=utf-8", index},
		// Views have URLs of their own; the page's router picks the view.
		{"/ui/work-orders/wo-1a2b3c4d", 200, "text/html; charset=utf-8", index},
		{"/ui/repositories", 200, "text/html; charset=utf-8", index},
		{"/ui/js/app.js", 200, "text/javascript; charset=utf-8", app},
		{"/ui/css/app.css", 200, "text/css; charset=utf-8", nil},
		{"/ui/favicon.svg", 200, "image/svg+xml", nil},
		// A missing script is a 404, never the page served as JavaScript.
		{"/ui/js/missing.js", 404, "", nil},
		{"/ui/css/missing.css", 404, "", nil},
		{"/ui/logo.png", 404, "", nil},
		// Cleaned paths cannot climb out of the embedded directory.
		{"/ui/../ui.go", 404, "", nil},
		{"/ui/js/../../ui.go", 404, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			rec := get(h, http.MethodGet, tt.target, nil)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if tt.ctype != "" && rec.Header().Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.ctype)
			}
			if tt.body != nil && !bytes.Equal(rec.Body.Bytes(), tt.body) {
				t.Errorf("body is not the embedded file")
			}
		})
	}
}

func TestServe_HeadersProtectThePage(t *testing.T) {
	rec := get(newHandler(t), http.MethodGet, "/ui/", nil)
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "default-src 'none'", "frame-ancestors 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("Content-Security-Policy %q allows inline script or eval", csp)
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", got)
	}
}

func TestServe_RevalidatesWithETagAndCompresses(t *testing.T) {
	h := newHandler(t)
	first := get(h, http.MethodGet, "/ui/js/app.js", map[string]string{"Accept-Encoding": "gzip, br"})
	etag := first.Header().Get("ETag")
	if etag == "" || first.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("ETag %q, Content-Encoding %q", etag, first.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(first.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	want, _ := static.ReadFile("static/js/app.js")
	if !bytes.Equal(plain, want) {
		t.Error("the gzipped body is not the file")
	}
	if rec := get(h, http.MethodGet, "/ui/js/app.js", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("revalidation: %d with %d bytes, want 304 and none", rec.Code, rec.Body.Len())
	}
	if rec := get(h, http.MethodGet, "/ui/js/app.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); rec.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it")
	}
	if rec := get(h, http.MethodHead, "/ui/", nil); rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	if rec := get(h, http.MethodPost, "/ui/", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
}

// The dashboard shows agent output; it must never parse data as HTML or
// run text as code. Views build nodes with h() and textContent only.
var forbidden = regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(\s*['"]|srcdoc|DOMParser|createContextualFragment`)

func TestScripts_NeverParseDataAsHTML(t *testing.T) {
	var scripts int
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		scripts++
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(body), "\n") {
			if code := strings.TrimSpace(line); !strings.HasPrefix(code, "//") && forbidden.MatchString(code) {
				t.Errorf("%s:%d: %s", p, i+1, code)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scripts < 5 {
		t.Fatalf("found %d scripts; the walk is not looking at the dashboard", scripts)
	}
}

// Nothing is fetched from elsewhere at run time: the page works offline.
func TestFiles_LoadNothingFromAnotherOrigin(t *testing.T) {
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import\s+url\(\s*["']?(https?:)?//|import\s*\(?\s*["'](https?:)?//`)
	for _, p := range newHandler(t).Files() {
		body, _ := static.ReadFile("static/" + p)
		if loc := external.FindIndex(body); loc != nil {
			t.Errorf("%s loads from another origin: %q", p, body[loc[0]:min(loc[1]+40, len(body))])
		}
	}
}
