package agent

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The API's answers that end a run because of the account or the API's
// load, not the step: the step can wait and run again. Claude Code 2.1.328
// reports them on the result line (api_error_status, api_error_type) and
// on the synthetic assistant line before it ("error": "rate_limit").
const (
	statusRateLimited = 429
	statusOverloaded  = 529
	typeRateLimit     = "rate_limit_error"
	typeOverloaded    = "overloaded_error"
	errorRateLimit    = "rate_limit" // the assistant line's error
)

// usageLimited reports whether a failed run ended on a usage or rate limit
// or an overloaded API: from the result line when there is one, else from
// the assistant line's error.
func usageLimited(rl *ResultLine, assistantError string) bool {
	if rl != nil {
		return rl.IsError && (rl.APIErrorStatus == statusRateLimited || rl.APIErrorStatus == statusOverloaded ||
			rl.APIErrorType == typeRateLimit || rl.APIErrorType == typeOverloaded)
	}
	return assistantError == errorRateLimit
}

// limitReason names the answer that ended a usage-limited run:
// "429 rate_limit_error", or what part of it the output gives.
func limitReason(rl *ResultLine, assistantError string) string {
	if rl == nil || (rl.APIErrorStatus == 0 && rl.APIErrorType == "") {
		return assistantError
	}
	return strings.TrimSpace(strconv.Itoa(rl.APIErrorStatus) + " " + rl.APIErrorType)
}

// maxResetAhead bounds a reset time read from the output: anything
// further out is more likely a misread than a limit (the longest Claude
// limit is weekly).
const maxResetAhead = 8 * 24 * time.Hour

var (
	// "Claude AI usage limit reached|1767225600": the form earlier Claude
	// Code versions printed, the reset as Unix seconds.
	resetUnixPattern = regexp.MustCompile(`(?i)limit reached\|(\d{10})\b`)
	// "... resets at 2026-12-06T05:00:00Z", "try again after <RFC 3339>".
	resetRFC3339Pattern = regexp.MustCompile(`(?i)(?:reset|resets|until|try again (?:at|after))\D{0,12}(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))`)
	// "Your limit will reset at 5pm (Europe/Berlin)", "resets 5:30am (UTC)".
	resetClockPattern = regexp.MustCompile(`(?i)resets?\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)\s*\(([A-Za-z0-9_+/-]+)\)`)
)

// ResetTime reads when a usage limit resets from what the agent printed
// (its result or error text), conservatively: only the forms above, and
// only a time after now-1m and at most maxResetAhead ahead; otherwise ok
// is false and the caller uses its own backoff. Claude Code 2.1.328 prints
// none of them; a later version or another agent may.
func ResetTime(text string, now time.Time) (reset time.Time, ok bool) {
	if m := resetUnixPattern.FindStringSubmatch(text); m != nil {
		if secs, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			reset = time.Unix(secs, 0)
		}
	} else if m := resetRFC3339Pattern.FindStringSubmatch(text); m != nil {
		reset = parseTimestamp(m[1])
	} else if m := resetClockPattern.FindStringSubmatch(text); m != nil {
		reset = nextClockTime(m[1], m[2], m[3], m[4], now)
	}
	if reset.IsZero() || reset.Before(now.Add(-time.Minute)) || reset.After(now.Add(maxResetAhead)) {
		return time.Time{}, false
	}
	return reset.UTC(), true
}

func parseTimestamp(s string) time.Time {
	s = strings.Replace(s, " ", "T", 1)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// nextClockTime is the first time at or after now that the clock of zone
// shows hour:minute am/pm; zero when the zone is unknown.
func nextClockTime(hour, minute, ampm, zone string, now time.Time) time.Time {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}
	}
	h, _ := strconv.Atoi(hour)
	m, _ := strconv.Atoi(minute) // "" is 0
	if h < 1 || h > 12 || m > 59 {
		return time.Time{}
	}
	h %= 12
	if strings.EqualFold(ampm, "pm") {
		h += 12
	}
	local := now.In(loc)
	t := time.Date(local.Year(), local.Month(), local.Day(), h, m, 0, 0, loc)
	if t.Before(local) {
		t = time.Date(local.Year(), local.Month(), local.Day()+1, h, m, 0, 0, loc)
	}
	return t
}
