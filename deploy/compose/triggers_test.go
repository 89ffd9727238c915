package compose

import (
	"slices"
	"testing"
)

// triggerSettings and outboundSettings are the optional GitHub trigger and outbound webhook
// settings, with values the configuration accepts.
var (
	triggerSettings = map[string]string{
		"GITHUB_WEBHOOK_SECRET":    "test-github-webhook-secret-0123456789",
		"AWO_TRIGGER_LABEL":        "agent",
		"AWO_TRIGGER_COMMAND":      "/agent",
		"AWO_TRIGGER_ASSOCIATIONS": "OWNER,MEMBER",
	}
	outboundSettings = map[string]string{
		"AWO_PUBLIC_URL":      "https://awo.example.com",
		"AWO_WEBHOOK_URLS":    "https://hooks.example.com/awo",
		"AWO_WEBHOOK_SECRET":  "whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5YWI=",
		"AWO_WEBHOOK_EVENTS":  "workorder.completed,workorder.failed",
		"AWO_WEBHOOK_MAX_AGE": "1h",
		"AWO_WEBHOOK_TIMEOUT": "5s",
	}
)

// TestCompose_TriggersAndWebhooks: set in .env, the trigger settings reach
// the gateways and the outbound ones the github service (the all-in-one
// gets both); no other service sees them, and every service still loads.
// Unset, no service gets a value (an empty one is unset to awo).
func TestCompose_TriggersAndWebhooks(t *testing.T) {
	filled := filledEnv(t, composeDir)
	for k, v := range triggerSettings {
		filled[k] = v
	}
	for k, v := range outboundSettings {
		filled[k] = v
	}
	p := mustLoad(t, composeDir, filled, allProfiles...)
	bare := mustLoad(t, composeDir, filledEnv(t, composeDir), allProfiles...)
	for _, name := range serviceNames(p) {
		s := p.Services[name]
		if !isAwo(s) {
			continue
		}
		reportAll(t, checkAwoService(composeDir, name, s))
		target := s.Build.Target
		e, unset := env(s), env(bare.Services[name])
		for _, group := range []struct {
			settings map[string]string
			readers  []string
		}{
			{triggerSettings, []string{"gateway", "all-in-one"}},
			{outboundSettings, []string{"github", "all-in-one"}},
		} {
			readers := group.readers
			wanted := slices.Contains(readers, target)
			for k, v := range group.settings {
				got, ok := e[k]
				switch {
				case wanted && got != v:
					t.Errorf("%s: %s=%q, want %q from .env", name, k, got, v)
				case !wanted && ok:
					t.Errorf("%s: sets %s, which only the %v read", name, k, readers)
				}
				if unset[k] != "" {
					t.Errorf("%s: without .env, %s=%q; want it empty (off)", name, k, unset[k])
				}
			}
		}
	}
}
