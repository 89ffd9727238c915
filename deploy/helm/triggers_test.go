//go:build deploycheck

package helm

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/agentworkorders/awo/pkg/config"
)

const triggersFile = "testdata/triggers.yaml"

// issue15Env is what testdata/triggers.yaml must give each service: plain
// values, or "secret" for a variable read from the Secret. Every other
// service gets none of these variables.
var issue15Env = map[string]map[string]string{
	"gateway": {
		"GITHUB_WEBHOOK_SECRET":    "secret",
		"AWO_TRIGGER_LABEL":        "agent",
		"AWO_TRIGGER_COMMAND":      "/agent",
		"AWO_TRIGGER_ASSOCIATIONS": "OWNER,MEMBER",
	},
	"github": {
		"AWO_PUBLIC_URL":      "https://awo.example.com",
		"AWO_WEBHOOK_URLS":    "secret",
		"AWO_WEBHOOK_SECRET":  "secret",
		"AWO_WEBHOOK_EVENTS":  "workorder.completed,workorder.failed",
		"AWO_WEBHOOK_MAX_AGE": "1h",
		"AWO_WEBHOOK_TIMEOUT": "5s",
	},
}

// issue15Secrets are the Secret's keys for them, with the values given.
var issue15Secrets = map[string]string{
	"GITHUB_WEBHOOK_SECRET": "test-github-webhook-secret-0123456789",
	"AWO_WEBHOOK_URLS":      "https://hooks.example.com/awo?token=test-url-token-0123,https://other.example.com/events",
	"AWO_WEBHOOK_SECRET":    "whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5YWI=",
}

// TestChart_TriggersAndWebhooks: set, the GitHub trigger settings land on
// the gateway and the outbound ones on the github service only; their
// secrets are in the Secret and nowhere in plain text; each service's
// environment loads.
func TestChart_TriggersAndWebhooks(t *testing.T) {
	helmBin(t)
	out, err := render(t, "-f", triggersFile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	reportAll(t, checkAll(m, defaults))
	for name, value := range issue15Secrets {
		if bytes.Contains(out, []byte(value)) {
			t.Errorf("%s's value is in the rendering in plain text", name)
		}
		if got := string(m.secrets[chartSecret].Data[name]); got != value {
			t.Errorf("Secret %s: %s=%q, want %q", chartSecret, name, got, value)
		}
	}
	secret := m.secrets[chartSecret]
	for comp := range components {
		c := m.deployments["awo-"+comp].Spec.Template.Spec.Containers[0]
		reportAll(t, checkIssue15Env(comp, c.Env, issue15Env[comp], false))
		env := map[string]string{}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
				env[e.Name] = e.Value
			case e.ValueFrom.SecretKeyRef != nil:
				env[e.Name] = string(secret.Data[e.ValueFrom.SecretKeyRef.Key])
			}
		}
		if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
			t.Errorf("awo-%s: its environment does not load: %v", comp, err)
		}
	}
}

// TestChart_TriggersAndWebhooksUnset: without them, no service gets any of
// these variables and the Secret none of the keys; with existingSecret the
// secret ones are read from it, optional (absent keys leave them off).
func TestChart_TriggersAndWebhooksUnset(t *testing.T) {
	helmBin(t)
	m := mustRender(t)
	for comp := range components {
		reportAll(t, checkIssue15Env(comp, m.deployments["awo-"+comp].Spec.Template.Spec.Containers[0].Env, nil, false))
	}
	for name := range issue15Secrets {
		if _, ok := m.secrets[chartSecret].Data[name]; ok {
			t.Errorf("Secret %s has %s, which was not given", chartSecret, name)
		}
	}

	m = mustRender(t, "--set", "existingSecret=awo-managed")
	for comp := range components {
		want := map[string]string{}
		for name, v := range issue15Env[comp] {
			if v == "secret" {
				want[name] = v
			}
		}
		reportAll(t, checkIssue15Env(comp, m.deployments["awo-"+comp].Spec.Template.Spec.Containers[0].Env, want, true))
	}
}

// checkIssue15Env: env has exactly the wanted trigger and webhook
// variables ("secret": from the Secret, optional when asked).
func checkIssue15Env(comp string, env []corev1.EnvVar, want map[string]string, optional bool) []string {
	var bad []string
	all := map[string]bool{}
	for _, vars := range issue15Env {
		for name := range vars {
			all[name] = true
		}
	}
	got := map[string]corev1.EnvVar{}
	for _, e := range env {
		if all[e.Name] {
			got[e.Name] = e
		}
	}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		e, has := got[name]
		w, wanted := want[name]
		switch {
		case !wanted && has:
			bad = append(bad, "awo-"+comp+": sets "+name+", which it does not read")
		case wanted && !has:
			bad = append(bad, "awo-"+comp+": lacks "+name)
		case !wanted:
		case w != "secret" && (e.ValueFrom != nil || e.Value != w):
			bad = append(bad, "awo-"+comp+": "+name+"="+e.Value+", want "+w)
		case w == "secret" && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Key != name):
			bad = append(bad, "awo-"+comp+": "+name+" is not read from the Secret's key "+name)
		case w == "secret" && optional != (e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional):
			bad = append(bad, "awo-"+comp+": "+name+" optional is not "+map[bool]string{true: "true", false: "unset"}[optional])
		}
	}
	return bad
}
