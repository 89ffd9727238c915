package config_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestLoad_Triggers_Defaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Gateway().Triggers
	if tr.WebhookSecret != "" || tr.Label != "awo" || tr.Command != "/awo" ||
		!slices.Equal(tr.Associations, []string{"OWNER", "MEMBER", "COLLABORATOR"}) {
		t.Fatalf("defaults: %+v", tr)
	}
}

func TestLoad_Triggers_ReadsAndNormalises(t *testing.T) {
	secret := strings.Repeat("s3cr3t", 4)
	c, err := config.Load(env(map[string]string{
		"GITHUB_WEBHOOK_SECRET": " " + secret + " ", "AWO_TRIGGER_LABEL": "fix-me",
		"AWO_TRIGGER_COMMAND": "@awo", "AWO_TRIGGER_ASSOCIATIONS": "owner, member ,OWNER",
	}))
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Triggers
	if tr.WebhookSecret != secret || tr.Label != "fix-me" || tr.Command != "@awo" ||
		!slices.Equal(tr.Associations, []string{"OWNER", "MEMBER"}) {
		t.Fatalf("got %+v", tr)
	}
	if !slices.Contains(c.Secrets(), secret) {
		t.Error("GITHUB_WEBHOOK_SECRET is not among the secrets the redactor replaces")
	}
	if got := fmt.Sprint(c.Attrs()); strings.Contains(got, secret) {
		t.Errorf("the start-up line shows the secret: %s", got)
	}
}

func TestLoad_Triggers_RefusesBadValuesWithoutQuotingTheSecret(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"GITHUB_WEBHOOK_SECRET": "short-s3cret", "AWO_TRIGGER_ASSOCIATIONS": "OWNER,ADMIN",
		"AWO_TRIGGER_COMMAND": "/awo please",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{"GITHUB_WEBHOOK_SECRET: is 12 characters long", "AWO_TRIGGER_ASSOCIATIONS", "AWO_TRIGGER_COMMAND"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "short-s3cret") {
		t.Errorf("error quotes the secret: %s", msg)
	}
}
