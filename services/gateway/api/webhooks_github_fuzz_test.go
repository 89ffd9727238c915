package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzGitHubWebhook sends arbitrary payloads, events and delivery ids to
// POST /webhooks/github, signed or not: an unsigned one is always 401, a
// signed one is answered without a server error (a payload GitHub could
// send never makes awo fail), every answer is {"detail": …}, and the
// secret is never in it.
func FuzzGitHubWebhook(f *testing.F) {
	target := newFuzzTarget(f, withWebhook)
	files, _ := filepath.Glob(filepath.Join("testdata", "github", "*.json"))
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		event := strings.TrimSuffix(filepath.Base(file), ".json")
		event, _, _ = strings.Cut(event, "_labeled")
		event = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(event, "_issue"), "_pr"), "_submitted")
		f.Add(event, "seed-"+event, true, body)
	}
	f.Add("issues", "seed-bad", true, []byte(`{"action":"labeled","label":{"name":"awo"},"issue":{"number":-1},"repository":{"full_name":"../x"}}`))
	f.Add("issue_comment", "seed-null", true, []byte(`{"action":"created","issue":null,"comment":{"body":"/awo x"},"repository":{"full_name":"acme/demo"}}`))
	f.Add("ping", "seed-ping", false, []byte(`{}`))
	f.Fuzz(func(t *testing.T, event, delivery string, signed bool, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", delivery)
		if signed {
			req.Header.Set("X-Hub-Signature-256", signBody(webhookSecret, body))
		}
		rec := httptest.NewRecorder()
		target.handler.ServeHTTP(rec, req)
		switch {
		case !signed && rec.Code != http.StatusUnauthorized:
			t.Fatalf("unsigned delivery answered %d %s", rec.Code, rec.Body)
		case signed && (rec.Code == http.StatusUnauthorized || rec.Code >= 500):
			t.Fatalf("signed delivery (event %q) answered %d %s", event, rec.Code, rec.Body)
		}
		var answer map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer["detail"] == nil {
			t.Fatalf("answer %d %q is not {\"detail\": …}", rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), webhookSecret) {
			t.Fatal("the answer holds the secret")
		}
	})
}
