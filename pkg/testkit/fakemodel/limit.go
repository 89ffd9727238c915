package fakemodel

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// LimitMessage is the error message of a 429 sent by RateLimitUntil.
const LimitMessage = "This request would exceed your account's rate limit. Please try again later."

// RateLimitUntil makes the server answer every scripted turn with a 429
// rate_limit_error until until, as the API does when the account has hit
// its usage or rate limit; from then on the rules' turns are answered
// again, where the conversation left off. Side calls and unmatched
// conversations are not limited, so the CLI starts as usual.
//
// The answer carries the headers the real API sends with it: retry-after
// (whole seconds to the reset, rounded up), anthropic-ratelimit-unified-
// status: rejected and anthropic-ratelimit-unified-reset (the reset as Unix
// seconds). It also carries x-should-retry: false: the CLI then gives up
// at once (exit 1) instead of retrying for minutes, which is what a usage
// limit that lasts hours comes to and what a test can wait for.
// A zero until lifts the limit.
func (s *Server) RateLimitUntil(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitedUntil = until
}

// limited reports the limit's reset when one is in force at now.
func (s *Server) limited(now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limitedUntil, now.Before(s.limitedUntil)
}

// writeRateLimited answers 429 with the headers of a usage limit that
// resets at reset.
func writeRateLimited(w http.ResponseWriter, now, reset time.Time) {
	secs := int64(math.Ceil(reset.Sub(now).Seconds()))
	h := w.Header()
	h.Set("retry-after", strconv.FormatInt(max(secs, 1), 10))
	h.Set("anthropic-ratelimit-unified-status", "rejected")
	h.Set("anthropic-ratelimit-unified-reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("x-should-retry", "false")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	b, _ := json.Marshal(map[string]any{
		"type":  "error",
		"error": map[string]string{"type": errorType(http.StatusTooManyRequests), "message": LimitMessage},
	})
	w.Write(b)
}

func limitAnswer(reset time.Time) string {
	return fmt.Sprintf("error 429 rate_limit_error until %s", reset.UTC().Format(time.RFC3339))
}
