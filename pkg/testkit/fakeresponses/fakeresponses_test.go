package fakeresponses_test

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/fakeresponses"
)

// The turn of a request is the number of items the model produced in it;
// side calls without tools get harmless text; a request past the script
// gets a 400 naming the rule.
func TestServer_TurnsAndSideCalls(t *testing.T) {
	srv := fakeresponses.New(t, fakeresponses.Rule{Name: "r", Prompt: "do it", Turns: []fakeresponses.Turn{
		fakeresponses.Shell("echo one"), fakeresponses.Text("done")}})
	post := func(body string) (int, string) {
		resp, err := http.Post(srv.URL+"/responses", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		return resp.StatusCode, b.String()
	}
	user := `{"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context>x</environment_context>"}]},` +
		`{"type":"message","role":"user","content":[{"type":"input_text","text":"please do it"}]}`
	tools := `"tools":[{"type":"function","name":"exec_command"}]`
	code, out := post(`{"model":"m",` + tools + `,"input":[` + user + `]}`)
	if code != 200 || !strings.Contains(out, `"name":"exec_command"`) || !strings.Contains(out, "response.completed") {
		t.Errorf("turn 0: %d %s", code, out)
	}
	code, out = post(`{"model":"m",` + tools + `,"input":[` + user + `,{"type":"function_call","call_id":"c1","name":"exec_command","arguments":"{}"},` +
		`{"type":"function_call_output","call_id":"c1","output":"one\n"}]}`)
	if code != 200 || !strings.Contains(out, `"text":"done"`) {
		t.Errorf("turn 1: %d %s", code, out)
	}
	if got := srv.Conversation("r"); len(got) != 2 || got[1].Turn != 1 || len(got[1].Outputs) != 1 || got[1].Outputs[0].Output != "one\n" ||
		got[0].Prompt != "please do it" {
		t.Errorf("conversation %+v", got)
	}
	code, out = post(`{"model":"m","input":[` + user + `]}`)
	if code != 200 || !strings.Contains(out, `"text":"ok"`) {
		t.Errorf("side call: %d %s", code, out)
	}
	code, out = post(`{"model":"m",` + tools + `,"input":[` + user + `,{"type":"message","role":"assistant","content":[]},{"type":"message","role":"assistant","content":[]}]}`)
	if code != 400 || !strings.Contains(out, `rule \"r\" has 2 turns`) {
		t.Errorf("past the script: %d %s", code, out)
	}
}

// The Makefile pins the version this package says, and the binary is it.
func TestPinnedVersion(t *testing.T) {
	root, _ := filepath.Abs("../../..")
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "CODEX_VERSION  := "+fakeresponses.PinnedVersion+"\n") {
		t.Errorf("the Makefile's CODEX_VERSION is not %s", fakeresponses.PinnedVersion)
	}
	out, err := exec.Command(fakeresponses.CodexPath(t), "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "codex-cli "+fakeresponses.PinnedVersion {
		t.Errorf("codex --version: %q %v", out, err)
	}
}
