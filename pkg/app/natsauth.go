package app

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/agentworkorders/awo/pkg/config"
)

// NATSOptions are the credentials and TLS settings every NATS connection of
// this process uses, read from the NATS_* variables the way the nats CLI
// reads them. Files are checked here, so a wrong path is reported at start
// naming its variable rather than as a failed handshake.
func NATSOptions(cfg config.Shared) ([]nats.Option, error) {
	var opts []nats.Option
	readable := func(name, path string) error {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("%s=%s: %w", name, path, err)
		}
		return f.Close()
	}
	switch {
	case cfg.NATSCreds != "":
		if err := readable("NATS_CREDS", cfg.NATSCreds); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
	case cfg.NATSNKey != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NATSNKey)
		if err != nil {
			// The error names the file, never the seed.
			return nil, fmt.Errorf("NATS_NKEY=%s: %w", cfg.NATSNKey, err)
		}
		opts = append(opts, o)
	case cfg.NATSUser != "":
		opts = append(opts, nats.UserInfo(cfg.NATSUser, cfg.NATSPassword))
	case cfg.NATSToken != "":
		opts = append(opts, nats.Token(cfg.NATSToken))
	}
	if cfg.NATSCA != "" {
		if err := readable("NATS_CA", cfg.NATSCA); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(cfg.NATSCA))
	}
	if cfg.NATSCert != "" {
		if err := readable("NATS_CERT", cfg.NATSCert); err != nil {
			return nil, err
		}
		if err := readable("NATS_KEY", cfg.NATSKey); err != nil {
			return nil, err
		}
		opts = append(opts, nats.ClientCert(cfg.NATSCert, cfg.NATSKey))
	}
	return opts, nil
}

// HasNATSCredentials reports whether any client credential is configured.
func HasNATSCredentials(cfg config.Shared) bool {
	return cfg.NATSCreds != "" || cfg.NATSNKey != "" || cfg.NATSUser != "" || cfg.NATSToken != "" || cfg.NATSCert != ""
}

// NATSCLIFlags are the nats CLI flags that connect as this process does,
// for the hints printed at start. Secrets are referred to by their
// variable, never printed.
func NATSCLIFlags(cfg config.Shared) string {
	var f []string
	switch {
	case cfg.NATSCreds != "":
		f = append(f, "--creds "+cfg.NATSCreds)
	case cfg.NATSNKey != "":
		f = append(f, "--nkey "+cfg.NATSNKey)
	case cfg.NATSUser != "":
		f = append(f, "--user "+cfg.NATSUser, `--password "$NATS_PASSWORD"`)
	case cfg.NATSToken != "":
		f = append(f, `--user "$NATS_TOKEN"`)
	}
	if cfg.NATSCA != "" {
		f = append(f, "--tlsca "+cfg.NATSCA)
	}
	if cfg.NATSCert != "" {
		f = append(f, "--tlscert "+cfg.NATSCert, "--tlskey "+cfg.NATSKey)
	}
	return strings.Join(f, " ")
}

// LogNATSErrors logs the errors the server reports asynchronously, above
// all permission violations: a publish the server refuses is otherwise
// only a request that times out.
func LogNATSErrors(log *slog.Logger) nats.ErrHandler {
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if sub != nil {
			log.Error("NATS subscription error", "subject", sub.Subject, "err", err)
			return
		}
		log.Error("NATS error", "err", err)
	}
}
