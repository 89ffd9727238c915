package fakemodel_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/claudecli"
	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// The fake is only useful if the real CLI accepts it: write a file, run a
// command that reads it, finish with text.
func TestServer_DrivesTheRealCLI(t *testing.T) {
	dir := t.TempDir()
	srv := fakemodel.New(t, fakemodel.Rule{
		Name:   "notes",
		Prompt: "write the notes",
		Turns: []fakemodel.Turn{
			fakemodel.Write("docs/notes.md", "# Notes\n"),
			fakemodel.Bash("wc -l docs/notes.md", "Count lines"),
			fakemodel.Text("Wrote docs/notes.md"),
		},
	})

	cmd := exec.Command(claudecli.Path(t), "--print", "--output-format", "stream-json", "--verbose",
		"--model", "sonnet", "--dangerously-skip-permissions")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), claudecli.Env(srv.URL)...)
	cmd.Stdin = strings.NewReader("Please write the notes.")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("claude: %v\nstderr: %s\nstdout: %s", err, stderr.Bytes(), out)
	}

	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	var result struct {
		Type    string `json:"type"`
		IsError bool   `json:"is_error"`
		Result  string `json:"result"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &result); err != nil {
		t.Fatal(err)
	}
	if result.Type != "result" || result.IsError || result.Result != "Wrote docs/notes.md" {
		t.Errorf("result line = %+v", result)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "docs", "notes.md")); err != nil || string(b) != "# Notes\n" {
		t.Errorf("docs/notes.md = %q, %v", b, err)
	}

	conv := srv.Conversation("notes")
	if len(conv) != 3 {
		t.Fatalf("conversation has %d requests: %+v", len(conv), srv.Requests())
	}
	if conv[0].Prompt != "Please write the notes." || !conv[0].HasTools || !conv[0].Stream {
		t.Errorf("first request = %+v", conv[0])
	}
	if tr := conv[2].ToolResults; len(tr) != 1 || !strings.Contains(tr[0].Content, "1 docs/notes.md") || tr[0].IsError {
		t.Errorf("the model saw tool results %+v", tr)
	}
	for _, r := range srv.Requests() {
		if r.Rule == "" {
			t.Logf("side call: %+v", r)
		}
	}
}
