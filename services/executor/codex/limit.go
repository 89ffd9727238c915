package codex

import (
	"regexp"
	"strings"
	"time"
)

// Codex 0.171.0 reports the API's 429 usage_limit_reached as an error
// event and turn.failed, both with "You’ve hit your usage limit. Try again
// at 4:28 AM." (the reset as a local clock time truncated to the minute:
// measured with a reset at 04:28:50; a date comes first when it is not
// today). A 429 rate limit or quota error says "rate limit" or
// "quota".
var (
	limitPhrases = []string{"usage limit", "rate limit", "quota exceeded", "exceeded your current quota"}
	tryAgainAt   = regexp.MustCompile(`(?i)try again at ([^.]*?(\d{1,2}:\d{2}\s*[AP]M))`)
	ordinal      = regexp.MustCompile(`(\d)(st|nd|rd|th),`)
)

// noteLimit records a usage limit and its reset from a codex message.
func (s *runState) noteLimit(msg string) {
	lower := strings.ToLower(msg)
	limited := false
	for _, p := range limitPhrases {
		if strings.Contains(lower, p) {
			limited = true
		}
	}
	if !limited {
		return
	}
	if strings.HasPrefix(lower, "reconnecting") {
		return // codex retries these itself
	}
	s.usageLimited = true
	if t, ok := resetTime(msg, s.now()); ok {
		s.resetAt = t
	}
}

// resetTime reads "Try again at 4:28 AM" as the end of the next such
// minute from now in the local zone (the one codex printed it in): the
// reset is within that minute, and waking before it would only meet the
// limit again. A message with a date before the time is read only when it
// parses with one of codex's forms.
func resetTime(msg string, now time.Time) (time.Time, bool) {
	m := tryAgainAt.FindStringSubmatch(msg)
	if m == nil {
		return time.Time{}, false
	}
	full := strings.TrimSpace(m[1])
	dated := ordinal.ReplaceAllString(full, "$1,")
	for _, layout := range []string{"Jan 2, 2006 3:04 PM", "January 2, 2006 3:04 PM"} {
		if t, err := time.ParseInLocation(layout, dated, now.Location()); err == nil {
			return t.Add(time.Minute), true
		}
	}
	clock, err := time.ParseInLocation("3:04 PM", strings.ToUpper(strings.Join(strings.Fields(m[2]), " ")), now.Location())
	if err != nil {
		return time.Time{}, false
	}
	t := time.Date(now.Year(), now.Month(), now.Day(), clock.Hour(), clock.Minute(), 0, 0, now.Location())
	// The minute codex printed may already have begun.
	if t.Before(now.Add(-time.Minute)) {
		t = t.AddDate(0, 0, 1)
	}
	return t.Add(time.Minute), true
}
