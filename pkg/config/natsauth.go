package config

import (
	"errors"
	"fmt"
	"strings"
)

// natsCredentials rejects client credentials that contradict each other:
// the server would see only one of them, and which one would be a guess.
func (p *parser) natsCredentials(c Config) {
	var set []string
	for _, v := range []struct{ name, value string }{
		{"NATS_CREDS", c.NATSCreds}, {"NATS_NKEY", c.NATSNKey}, {"NATS_USER", c.NATSUser}, {"NATS_TOKEN", c.NATSToken},
	} {
		if v.value != "" {
			set = append(set, v.name)
		}
	}
	if len(set) > 1 {
		p.errs = append(p.errs, fmt.Errorf("%s: set only one way to authenticate to NATS", strings.Join(set, " and ")))
	}
	if c.NATSUser != "" && c.NATSPassword == "" {
		p.errs = append(p.errs, errors.New("NATS_USER needs NATS_PASSWORD (for a token, set NATS_TOKEN)"))
	}
	if c.NATSPassword != "" && c.NATSUser == "" {
		p.errs = append(p.errs, errors.New("NATS_PASSWORD needs NATS_USER"))
	}
	if (c.NATSCert == "") != (c.NATSKey == "") {
		p.errs = append(p.errs, errors.New("NATS_CERT and NATS_KEY go together: set both for a client certificate, or neither"))
	}
}
