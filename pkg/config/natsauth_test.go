package config_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/config"
)

func TestLoad_NATSCredentials(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"AWO_NATS_CONFIG": "/etc/awo/nats.conf", "NATS_USER": "gateway", "NATS_PASSWORD": "pw-s3cret",
		"NATS_CA": "/ca.pem", "NATS_CERT": "/c.pem", "NATS_KEY": "/k.pem",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATSConfigFile != "/etc/awo/nats.conf" || c.NATSUser != "gateway" || c.NATSPassword != "pw-s3cret" ||
		c.NATSCA != "/ca.pem" || c.NATSCert != "/c.pem" || c.NATSKey != "/k.pem" {
		t.Fatalf("got %+v", c)
	}
	tok, err := config.Load(env(map[string]string{"NATS_TOKEN": "tok-s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []config.Config{c, tok} {
		printed := ""
		attrs := c.Attrs()
		for i := 0; i < len(attrs); i += 2 {
			printed += attrs[i].(string) + "=" + slog.AnyValue(attrs[i+1]).String() + " "
		}
		if strings.Contains(printed, "s3cret") {
			t.Fatalf("secret printed: %s", printed)
		}
		if !strings.Contains(printed, "NATS_USER=") || !strings.Contains(printed, "AWO_NATS_CONFIG=") {
			t.Fatalf("settings missing from the start-up line: %s", printed)
		}
	}
}

func TestLoad_RejectsContradictoryNATSCredentials(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"NATS_CREDS": "/a.creds", "NATS_TOKEN": "t"}, []string{"NATS_CREDS", "NATS_TOKEN"}},
		{map[string]string{"NATS_NKEY": "/seed", "NATS_USER": "u", "NATS_PASSWORD": "p"}, []string{"NATS_NKEY", "NATS_USER"}},
		{map[string]string{"NATS_USER": "u"}, []string{"NATS_USER", "NATS_PASSWORD"}},
		{map[string]string{"NATS_PASSWORD": "p"}, []string{"NATS_PASSWORD", "NATS_USER"}},
		{map[string]string{"NATS_CERT": "/c.pem"}, []string{"NATS_CERT", "NATS_KEY"}},
		{map[string]string{"NATS_KEY": "/k.pem"}, []string{"NATS_CERT", "NATS_KEY"}},
	}
	for _, tc := range cases {
		_, err := config.Load(env(tc.env))
		if err == nil {
			t.Errorf("%v: accepted", tc.env)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v does not name %s", tc.env, err, w)
			}
		}
		if strings.Contains(err.Error(), "p\"") {
			t.Errorf("%v: %v shows the password", tc.env, err)
		}
	}
}
