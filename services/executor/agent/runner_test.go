package agent

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCLIArgs(t *testing.T) {
	base := []string{"--print", "--output-format", "stream-json", "--verbose"}
	tests := []struct {
		name string
		req  Request
		want []string
	}{
		{"defaults leave the model to the CLI", Request{}, base},
		{"model", Request{Model: "sonnet"}, append(base[:4:4], "--model", "sonnet")},
		{"every option", Request{Model: "opus", MaxTurns: 7, SkipPermissions: true, Timeout: time.Minute},
			append(base[:4:4], "--model", "opus", "--max-turns", "7", "--dangerously-skip-permissions")},
		{"resume", Request{SkipPermissions: true, Resume: "3f0c8a59-4a77-4c8e-9d3e-0b1a7c1e2f00"},
			append(base[:4:4], "--dangerously-skip-permissions", "--resume", "3f0c8a59-4a77-4c8e-9d3e-0b1a7c1e2f00")},
		{"the remaining budget", Request{MaxBudgetUSD: 0.0125, SkipPermissions: true},
			append(base[:4:4], "--max-budget-usd", "0.0125", "--dangerously-skip-permissions")},
		{"zero max turns means no limit", Request{MaxTurns: 0, SkipPermissions: true}, append(base[:4:4], "--dangerously-skip-permissions")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cliArgs(tt.req); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("cliArgs = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRootSandboxProblem(t *testing.T) {
	tests := []struct {
		name      string
		skip      bool
		euid      int
		env       []string
		wantIssue bool
	}{
		{"root skipping permissions without IS_SANDBOX", true, 0, []string{"PATH=/bin"}, true},
		{"root with IS_SANDBOX=1", true, 0, []string{"IS_SANDBOX=1"}, false},
		{"the CLI accepts only 1, not true", true, 0, []string{"IS_SANDBOX=true"}, true},
		{"the last entry wins, as for exec", true, 0, []string{"IS_SANDBOX=1", "IS_SANDBOX=0"}, true},
		{"a request entry overrides the inherited one", true, 0, []string{"IS_SANDBOX=0", "IS_SANDBOX=1"}, false},
		{"root asking for permissions", false, 0, nil, false},
		{"not root", true, 1000, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := rootSandboxProblem(tt.skip, tt.euid, tt.env)
			if (msg != "") != tt.wantIssue {
				t.Fatalf("rootSandboxProblem = %q, want an issue: %t", msg, tt.wantIssue)
			}
			if tt.wantIssue && !strings.Contains(msg, "IS_SANDBOX=1") {
				t.Errorf("message %q does not say to set IS_SANDBOX=1", msg)
			}
		})
	}
}

func TestFailureMessage(t *testing.T) {
	ok := &ResultLine{Subtype: "success", Result: "done"}
	tests := []struct {
		name     string
		exitCode int
		exitDesc string
		rl       *ResultLine
		stderr   string
		want     string // "" = success; else a substring of the message
	}{
		{"success", 0, "exit status 0", ok, "", ""},
		{"API error: is_error decides, not subtype", 1, "exit status 1",
			&ResultLine{Subtype: "success", IsError: true, Result: "API Error: 400 bad model"}, "",
			"claude CLI failed: API Error: 400 bad model"},
		{"is_error even with exit status 0", 0, "exit status 0",
			&ResultLine{Subtype: "success", IsError: true, Result: "API Error: 500 overloaded"}, "",
			"API Error: 500 overloaded"},
		{"max turns names the limit", 1, "exit status 1",
			&ResultLine{Subtype: "error_max_turns", IsError: true, Errors: []string{"Reached maximum number of turns (3)"}}, "",
			"claude CLI failed: Reached maximum number of turns (3)"},
		{"an error without words names subtype and reason", 1, "exit status 1",
			&ResultLine{Subtype: "error_during_execution", IsError: true, TerminalReason: "aborted"}, "",
			"(error_during_execution, aborted)"},
		{"exit code with stderr", 1, "exit status 1", nil,
			"warming up\n--dangerously-skip-permissions cannot be used with root/sudo privileges for security reasons\n",
			"claude CLI exited with code 1: warming up\n--dangerously-skip-permissions cannot be used with root/sudo privileges"},
		{"exit code after a good result", 2, "exit status 2", ok, "", "exited with code 2 and printed nothing on stderr"},
		{"no result line", 0, "exit status 0", nil, "", "exited without reporting a result"},
		{"killed by a signal", -1, "signal: killed", nil, "", "ended abnormally (signal: killed)"},
		{"a long stderr keeps its end", 1, "exit status 1", nil, strings.Repeat("x", 2000) + "THE END", "…" + strings.Repeat("x", 493) + "THE END"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := failureMessage(tt.exitCode, tt.exitDesc, tt.rl, tt.stderr)
			if tt.want == "" {
				if got != "" {
					t.Fatalf("failureMessage = %q, want success", got)
				}
				return
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("failureMessage = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestReadLine_SkipsOverlongLinesAndKeepsReading(t *testing.T) {
	input := "short\n" + strings.Repeat("y", 100) + "\n" + strings.Repeat("z", 40) + "\nlast without newline"
	// A reader buffer smaller than the lines makes ReadSlice return
	// ErrBufferFull, as a multi-megabyte tool result does in production.
	br := bufio.NewReaderSize(strings.NewReader(input), 16)
	type line struct {
		text    string
		tooLong bool
	}
	var got []line
	for {
		l, tooLong, err := readLine(br, 50)
		if len(l) > 0 || tooLong {
			got = append(got, line{strings.TrimSuffix(string(l), "\n"), tooLong})
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []line{{"short", false}, {"", true}, {strings.Repeat("z", 40), false}, {"last without newline", false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lines = %+v\nwant    %+v", got, want)
	}
}

func TestTailBuffer_KeepsTheEnd(t *testing.T) {
	tb := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijklmnop", "qr"} {
		tb.Write([]byte(s))
	}
	if got := tb.String(); got != "klmnopqr" {
		t.Errorf("tail = %q, want %q", got, "klmnopqr")
	}
}

func TestTailBuffer_NeverStartsInsideACharacter(t *testing.T) {
	tb := &tailBuffer{max: 8}
	for _, s := range []string{"ab", "😀", "xyzwv"} { // 2+4+5 bytes: the last 8 start inside 😀
		tb.Write([]byte(s))
	}
	if got := tb.String(); got != "xyzwv" {
		t.Errorf("tail = %q, want %q", got, "xyzwv")
	}
	if got := stderrSuffix(strings.Repeat("é", 300) + "x"); !utf8.ValidString(got) || !strings.HasPrefix(got, ": …é") {
		t.Errorf("stderrSuffix cut inside a character: %q", got[:12])
	}
}
