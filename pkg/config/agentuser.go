package config

import (
	"regexp"
	"strings"
)

// userOrGroupPattern is a user or group name as useradd accepts it (with
// the usual allowance for upper case and a trailing '$'), or a number.
var userOrGroupPattern = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|[0-9]{1,10})$`)

// agentUser checks the form of AWO_AGENT_USER: user, uid, user:group or
// uid:gid. Root is refused by name and number: an agent running as root
// is what the setting exists to avoid.
func (p *parser) agentUser(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	u, g, hasGroup := strings.Cut(v, ":")
	switch {
	case !userOrGroupPattern.MatchString(u) || (hasGroup && !userOrGroupPattern.MatchString(g)):
		p.fail(name, v, "must be a user name or uid, optionally followed by :group or :gid")
	case u == "root" || isZero(u) || (hasGroup && (g == "root" || isZero(g))):
		p.fail(name, v, "must not be root: the agent would run with every right the executor has")
	default:
		return v
	}
	return ""
}

func isZero(s string) bool { return strings.Trim(s, "0") == "" }

var agentUserVariables = []variable{
	{names: []string{"AWO_AGENT_USER"},
		load: func(p *parser, n []string, c *Config) { c.AgentUser = p.agentUser(n[0]) },
		show: func(c *Config) any { return orDefault(c.AgentUser, "(the executor's own user)") }},
}
