// Package ui serves the dashboard: a handful of static files embedded in the
// binary (no CDN, no Node at run time) that talk to the JSON API and its SSE
// feeds from the browser. The files hold no data, so they are served without
// a token; every read and action goes through /api/, which checks it.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is where the dashboard lives.
const Prefix = "/ui/"

// contentSecurityPolicy allows only the dashboard's own files: no inline
// script, no eval, nothing from elsewhere. Agent output is rendered with
// textContent anyway; this is the second wall should a page ever slip.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type asset struct {
	body  []byte
	gzip  []byte // nil when compressing does not pay
	etag  string
	ctype string
}

// Handler serves the embedded files under Prefix. Any path that is not a
// file gets index.html, so /ui/work-orders/{id} can be shared and reloaded:
// the page's router picks the view from the path.
type Handler struct {
	assets map[string]*asset // by path below static/, e.g. "js/app.js"
	index  *asset
}

// New reads the embedded files once and compresses them.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]*asset{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		h.assets[strings.TrimPrefix(p, "static/")] = newAsset(p, body)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the dashboard's files: %w", err)
	}
	h.index = h.assets["index.html"]
	if h.index == nil {
		return nil, fmt.Errorf("the dashboard's index.html is missing")
	}
	return h, nil
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: mime.TypeByExtension(path.Ext(name))}
	if a.ctype == "" {
		a.ctype = "application/octet-stream"
	}
	if strings.HasSuffix(name, ".js") {
		a.ctype = "text/javascript; charset=utf-8"
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if buf.Len() < len(body)*9/10 {
		a.gzip = buf.Bytes()
	}
	return a
}

// Files lists the embedded files' paths below Prefix, for tests and the
// page-weight check.
func (h *Handler) Files() []string {
	out := make([]string, 0, len(h.assets))
	for p := range h.assets {
		out = append(out, p)
	}
	return out
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rel := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, "/ui")), "/")
	a, ok := h.assets[rel]
	if !ok {
		if strings.HasPrefix(rel, "js/") || strings.HasPrefix(rel, "css/") || path.Ext(rel) != "" {
			// A missing script or stylesheet is a 404, not the page: a
			// browser would otherwise try to run HTML as JavaScript.
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		a = h.index
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	// Revalidate every time (a 304 costs one round trip on a reload): a new
	// binary's files are never hidden behind a stale cache.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gzip != nil && acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gzip
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
