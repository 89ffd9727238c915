package config_test

import (
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestLoad_PublicURL_TrimmedAndReachesTheGitHubService(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.GitHub().PublicURL != "" {
		t.Fatalf("default AWO_PUBLIC_URL = %q, want none", c.GitHub().PublicURL)
	}
	c, err = config.Load(env(map[string]string{"AWO_PUBLIC_URL": "https://awo.example.com/"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.GitHub().PublicURL; got != "https://awo.example.com" {
		t.Fatalf("PublicURL = %q, want https://awo.example.com (no trailing slash, so links join cleanly)", got)
	}
	if got := printed(c); !strings.Contains(got, "https://awo.example.com") {
		t.Errorf("start-up line lacks the public URL: %s", got)
	}
}

func TestLoad_PublicURL_RejectsANonHTTPValueNamingTheVariable(t *testing.T) {
	for _, v := range []string{"awo.example.com", "ftp://awo.example.com", "https://"} {
		_, err := config.Load(env(map[string]string{"AWO_PUBLIC_URL": v}))
		if err == nil || !strings.Contains(err.Error(), "AWO_PUBLIC_URL") {
			t.Errorf("AWO_PUBLIC_URL=%s: err = %v, want one naming the variable", v, err)
		}
	}
}
