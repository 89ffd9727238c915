package agent

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/claudecli"
	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// TestCaptureLimitFixtures rewrites testdata/rate-limit-429.jsonl and
// testdata/overloaded-529.jsonl from the real CLI run against the scripted
// model: AWO_CAPTURE_FIXTURES=1 go test -run TestCaptureLimitFixtures.
// Skipped otherwise, so the fixtures stay what a known CLI printed.
func TestCaptureLimitFixtures(t *testing.T) {
	if os.Getenv("AWO_CAPTURE_FIXTURES") != "1" {
		t.Skip("set AWO_CAPTURE_FIXTURES=1 to capture the fixtures again from the CLI")
	}
	limited := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{fakemodel.Text("never reached")}})
	limited.RateLimitUntil(time.Now().Add(time.Hour))
	overloaded := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{
		fakemodel.Error(529, "Overloaded").WithoutRetry(),
	}})
	for name, srv := range map[string]*fakemodel.Server{"rate-limit-429.jsonl": limited, "overloaded-529.jsonl": overloaded} {
		cmd := exec.Command(claudecli.Path(t), "--print", "--output-format", "stream-json", "--verbose",
			"--model", "sonnet", "--dangerously-skip-permissions")
		cmd.Dir = newRepo(t)
		cmd.Env = append(os.Environ(), claudecli.Env(srv.URL)...)
		cmd.Stdin = strings.NewReader("Do the step.")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		t.Logf("%s: exit %v, stderr %q", name, err, stderr.String())
		if err := os.WriteFile(filepath.Join("testdata", name), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
