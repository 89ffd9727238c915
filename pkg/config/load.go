package config

import "fmt"

// Load reads the configuration through getenv (os.Getenv in main, a map in
// tests), row by row of the variables table. All problems are reported at
// once.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	var c Config
	for _, late := range []bool{false, true} {
		for _, v := range variables {
			if v.load != nil && v.late == late {
				v.load(&p, v.names, &c)
			}
		}
	}
	c.secrets = collectSecrets(getenv)
	c.secrets = append(c.secrets, c.APITokens...)
	if c.MetricsToken != "" {
		c.secrets = append(c.secrets, c.MetricsToken)
	}
	p.natsCredentials(c.Shared)
	if len(p.errs) > 0 {
		return Config{}, fmt.Errorf("invalid configuration:\n  %w", joinLines(p.errs))
	}
	return c, nil
}
