package codex

import (
	"testing"
	"time"
)

func TestResetTime(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 12, 6, 4, 2, 28, 0, loc)
	for _, tc := range []struct {
		msg  string
		want time.Time
		ok   bool
	}{
		{"You’ve hit your usage limit. Try again at 4:07 AM.", time.Date(2026, 12, 6, 4, 8, 0, 0, loc), true},
		{"You’ve hit your usage limit. Try again at 4:02 AM.", time.Date(2026, 12, 6, 4, 3, 0, 0, loc), true}, // this minute
		{"You’ve hit your usage limit. Try again at 3:00 AM.", time.Date(2026, 12, 7, 3, 1, 0, 0, loc), true}, // tomorrow
		{"Try again at 11:30 pm.", time.Date(2026, 12, 6, 23, 31, 0, 0, loc), true},
		{"You’ve hit your usage limit. Try again at Dec 8th, 2026 9:15 AM.", time.Date(2026, 12, 8, 9, 16, 0, 0, loc), true},
		{"You’ve hit your usage limit.", time.Time{}, false},
	} {
		got, ok := resetTime(tc.msg, now)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%q: %v %v, want %v %v", tc.msg, got, ok, tc.want, tc.ok)
		}
	}
	s := &runState{now: func() time.Time { return now }}
	s.noteLimit("Reconnecting... 1/5 (rate limit)")
	if s.usageLimited {
		t.Errorf("a retry codex makes itself counts as a limit")
	}
	s.noteLimit("You’ve hit your usage limit. Try again at 4:07 AM.")
	if !s.usageLimited || s.resetAt.IsZero() {
		t.Errorf("usage limit not noted: %+v", s)
	}
}
