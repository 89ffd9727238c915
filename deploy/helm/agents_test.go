//go:build deploycheck

package helm

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestChart_Agents: codex is configured (CODEX_CLI_PATH) on the gateways,
// which accept "agent": "codex", and the executors, which run it; only the
// executors get OPENAI_API_KEY, from the Secret; the model, prices and
// default agent go where they are read; agents.codex.enabled=false
// configures codex nowhere.
func TestChart_Agents(t *testing.T) {
	helmBin(t)
	const key = "sk-test-openai-key-not-real-0123"
	out, err := render(t, "--set", "secrets.openaiApiKey="+key, "--set", "agents.codex.model=gpt-5",
		"--set", "agents.prices=gpt-5=1.25:10", "--set", "agents.defaultAgent=codex")
	if err != nil {
		t.Fatal(err)
	}
	m, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(key)) {
		t.Error("OPENAI_API_KEY's value is in the rendering in plain text")
	}
	if got := string(m.secrets[chartSecret].Data["OPENAI_API_KEY"]); got != key {
		t.Errorf("Secret %s: OPENAI_API_KEY=%q, want the value given", chartSecret, got)
	}
	agents := map[string]string{"CODEX_CLI_PATH": "/usr/local/bin/codex", "CODEX_MODEL": "gpt-5",
		"AWO_PRICES": "gpt-5=1.25:10", "AWO_DEFAULT_AGENT": "codex"}
	for comp := range components {
		env := envOf(m.deployments["awo-"+comp].Spec.Template.Spec.Containers[0].Env)
		for name, want := range agents {
			if got, ok := env[name]; (comp == "gateway" || comp == "executor") != ok || ok && got.Value != want {
				t.Errorf("%s: %s=%+v (set: %v), want %q on the gateway and the executor only", comp, name, got, ok, want)
			}
		}
		k, ok := env["OPENAI_API_KEY"]
		if ok != (comp == "executor") || ok && (k.ValueFrom == nil || k.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s: OPENAI_API_KEY %+v (set: %v), want it from the Secret on the executor only", comp, k, ok)
		}
	}

	out, err = render(t, "--set", "agents.codex.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("CODEX_CLI_PATH")) || bytes.Contains(out, []byte("OPENAI_API_KEY")) {
		t.Error("agents.codex.enabled=false and no key: codex is still configured")
	}
}

func envOf(vars []corev1.EnvVar) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range vars {
		out[e.Name] = e
	}
	return out
}
