package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/agentworkorders/awo/pkg/app"
	"github.com/agentworkorders/awo/pkg/config"
)

func TestNATSOptions(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	seedFile := file("user.nk", string(seed))
	credsFile := file("user.creds", "not read until connect")
	missing := filepath.Join(dir, "missing")

	cases := []struct {
		name    string
		cfg     config.Shared
		check   func(o *nats.Options) bool
		wantErr string
		flags   string
	}{
		{"nothing", config.Shared{}, func(o *nats.Options) bool {
			return o.User == "" && o.Token == "" && o.Nkey == "" && o.UserJWT == nil && o.TLSConfig == nil
		}, "", ""},
		{"user and password", config.Shared{NATSUser: "gateway", NATSPassword: "pw"}, func(o *nats.Options) bool {
			return o.User == "gateway" && o.Password == "pw"
		}, "", `--user gateway --password "$NATS_PASSWORD"`},
		{"token", config.Shared{NATSToken: "tok"}, func(o *nats.Options) bool { return o.Token == "tok" }, "", `--user "$NATS_TOKEN"`},
		{"nkey seed file", config.Shared{NATSNKey: seedFile}, func(o *nats.Options) bool {
			return o.Nkey == pub && o.SignatureCB != nil
		}, "", "--nkey " + seedFile},
		{"creds file", config.Shared{NATSCreds: credsFile}, func(o *nats.Options) bool { return o.UserJWT != nil }, "", "--creds " + credsFile},
		{"missing creds", config.Shared{NATSCreds: missing}, nil, "NATS_CREDS=" + missing, ""},
		{"missing nkey", config.Shared{NATSNKey: missing}, nil, "NATS_NKEY=" + missing, ""},
		{"missing CA", config.Shared{NATSCA: missing}, nil, "NATS_CA=" + missing, ""},
		{"missing cert", config.Shared{NATSCert: missing, NATSKey: seedFile}, nil, "NATS_CERT=" + missing, ""},
		{"missing key", config.Shared{NATSCert: seedFile, NATSKey: missing}, nil, "NATS_KEY=" + missing, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := app.NATSOptions(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), string(seed)) {
					t.Fatal("the error shows the seed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := nats.GetDefaultOptions()
			for _, opt := range opts {
				if err := opt(&o); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.check(&o) {
				t.Errorf("options %+v", o)
			}
			if got := app.NATSCLIFlags(tc.cfg); got != tc.flags {
				t.Errorf("CLI flags %q, want %q", got, tc.flags)
			}
		})
	}
}
