package app

import "testing"

func TestTraceServiceName_AwoPrefixOnce(t *testing.T) {
	for in, want := range map[string]string{"awo": "awo", "gateway": "awo-gateway", "executor": "awo-executor", "awo-github": "awo-github"} {
		if got := TraceServiceName(in); got != want {
			t.Errorf("TraceServiceName(%q) = %q, want %q", in, got, want)
		}
	}
}
