package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentworkorders/awo/pkg/testkit/fakemodel"
)

// lastResult is the recorded run's result line and its last assistant
// line's error, as the stream reader keeps them.
func lastResult(t *testing.T, name string) (*ResultLine, string) {
	t.Helper()
	var rl *ResultLine
	apiErr := ""
	for _, m := range readRecorded(t, name) {
		if m.Result != nil {
			rl = m.Result
		}
		if m.Error != "" {
			apiErr = m.Error
		}
	}
	return rl, apiErr
}

func TestUsageLimited_RecordedRuns(t *testing.T) {
	tests := []struct {
		file       string
		want       bool
		wantStatus int
		wantType   string
		wantError  string
	}{
		{"rate-limit-429.jsonl", true, 429, "rate_limit_error", "rate_limit"},
		{"overloaded-529.jsonl", true, 529, "overloaded_error", "server_error"},
		{"api-error-400.jsonl", false, 400, "", ""},
		{"max-turns.jsonl", false, 0, "", ""},
		{"bash-tool-success.jsonl", false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rl, apiErr := lastResult(t, tt.file)
			if rl == nil {
				t.Fatal("no result line")
			}
			if rl.APIErrorStatus != tt.wantStatus || (tt.wantType != "" && rl.APIErrorType != tt.wantType) {
				t.Errorf("api error = %d %q, want %d %q", rl.APIErrorStatus, rl.APIErrorType, tt.wantStatus, tt.wantType)
			}
			if tt.wantError != "" && apiErr != tt.wantError {
				t.Errorf("assistant error = %q, want %q", apiErr, tt.wantError)
			}
			if want := strings.TrimSpace(fmt.Sprintf("%d %s", tt.wantStatus, tt.wantType)); tt.want && limitReason(rl, apiErr) != want {
				t.Errorf("limitReason = %q, want %q", limitReason(rl, apiErr), want)
			}
			if got := usageLimited(rl, apiErr); got != tt.want {
				t.Errorf("usageLimited = %t, want %t", got, tt.want)
			}
			// The CLI prints no reset time (2.1.328).
			if reset, ok := ResetTime(rl.Result, time.Now()); ok {
				t.Errorf("reset %s read from %q", reset, rl.Result)
			}
		})
	}
}

func TestUsageLimited_WithoutResultLine(t *testing.T) {
	if !usageLimited(nil, "rate_limit") || usageLimited(nil, "server_error") || usageLimited(nil, "") {
		t.Error("only the rate_limit error counts without a result line")
	}
	if usageLimited(&ResultLine{IsError: false, APIErrorStatus: 429}, "rate_limit") {
		t.Error("a result line without is_error is no failure")
	}
}

func TestResetTime(t *testing.T) {
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		name, text string
		want       time.Time // zero: none
	}{
		{"claude's pipe form", "Claude AI usage limit reached|1796530800", time.Unix(1796530800, 0)},
		{"rfc 3339 after resets", "Usage limit hit; resets at 2026-12-06T09:00:00Z.", time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)},
		{"rfc 3339 with offset", "try again after 2026-12-06T10:30:00+01:00", time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)},
		{"clock time in a zone", "Claude usage limit reached. Your limit will reset at 5pm (Europe/Berlin).", time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC)},
		{"clock time already past today", "Your limit resets 3:30am (UTC)", time.Date(2026, 12, 7, 3, 30, 0, 0, time.UTC)},
		{"no time", "API Error: Request rejected (429) · This request would exceed your account's rate limit. Please try again later.", time.Time{}},
		{"unknown zone", "limit will reset at 5pm (Mars/Olympus)", time.Time{}},
		{"long past", "usage limit reached|1500000000", time.Time{}},
		{"too far ahead", "resets at 2027-06-01T00:00:00Z", time.Time{}},
		{"a date without a reset word", "Report for 2026-12-06T09:00:00Z: limit", time.Time{}},
		{"an hour that is no hour", "resets at 13pm (UTC)", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ResetTime(tt.text, now)
			if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
				t.Errorf("ResetTime = %s, %t; want %s", got, ok, tt.want)
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("reset in %s, want UTC", got.Location())
			}
		})
	}
}

// The real CLI against a model answering 429 until later: the run fails
// at once and the result says the account is limited, with no reset time
// (the CLI does not pass the response's headers on).
func TestRun_RateLimitedIsUsageLimited(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{fakemodel.Text("not yet")}})
	srv.RateLimitUntil(time.Now().Add(time.Hour))
	start := time.Now()
	res, err := newRunner(t).Run(context.Background(), request(srv, dir, "Do something.", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || !res.UsageLimited || !res.ResetAt.IsZero() || res.ResumeFailed || res.LimitReason != "429 rate_limit_error" {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(res.ErrorMessage, "429") || !uuidPattern.MatchString(res.SessionID) {
		t.Errorf("ErrorMessage = %q, SessionID = %q", res.ErrorMessage, res.SessionID)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s; a 429 without retry should end the run at once", took)
	}
}

func TestRun_OverloadedIsUsageLimitedAndA400IsNot(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]bool{529: true, 400: false} {
		srv := fakemodel.New(t, fakemodel.Rule{Turns: []fakemodel.Turn{fakemodel.Error(status, "no").WithoutRetry()}})
		res, err := newRunner(t).Run(context.Background(), request(srv, newRepo(t), "Do something.", time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if res.Success || res.UsageLimited != want {
			t.Errorf("%d: UsageLimited = %t, want %t (%+v)", status, res.UsageLimited, want, res)
		}
	}
}

// A session a 429 interrupted can be resumed once the limit lifts: the
// model then sees the first prompt and the new one, and no turn of the
// failed run (the CLI keeps its synthetic error message out of the
// conversation), so the script starts at its first turn (measured with
// 2.1.328: the new prompt joins the first in one user message).
func TestRun_ResumeAfterRateLimit(t *testing.T) {
	t.Parallel()
	dir := newRepo(t)
	srv := fakemodel.New(t, fakemodel.Rule{Name: "work", Prompt: "Do the work.", Turns: []fakemodel.Turn{
		fakemodel.Bash("echo done > work.txt", "do it"),
		fakemodel.Text("worked"),
	}})
	srv.RateLimitUntil(time.Now().Add(time.Hour))
	r := newRunner(t)
	first, err := r.Run(context.Background(), request(srv, dir, "Do the work.", time.Minute))
	if err != nil || !first.UsageLimited {
		t.Fatalf("first run = %+v, %v", first, err)
	}
	srv.RateLimitUntil(time.Time{})
	req := request(srv, dir, "Do the step again.", time.Minute)
	req.Resume = first.SessionID
	second, err := r.Run(context.Background(), req)
	if err != nil || !second.Success || second.ResumeFailed || second.ResultText != "worked" || second.SessionID != first.SessionID {
		t.Fatalf("resumed run = %+v, %v", second, err)
	}
	conv := srv.Conversation("work")
	// The CLI sends the new prompt in one user message with the first.
	if len(conv) != 3 || conv[1].Turn != 0 || !strings.HasSuffix(conv[1].LatestPrompt, "Do the step again.") {
		for _, c := range conv {
			t.Logf("turn %d latest %q answer %s", c.Turn, c.LatestPrompt, c.Answer)
		}
		t.Fatalf("conversation has %d requests; want the 429 and then turns 0 and 1 of the script", len(conv))
	}
}
