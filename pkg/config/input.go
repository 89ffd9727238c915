package config

import "fmt"

// A user_request travels inside one
// workorder.requested event (and the step commands), and NATS refuses
// messages over its max_payload (1 MiB unless configured). The event is
// JSON that escapes '<', '>' and '&' as six bytes each, so the cap stays
// below a sixth of that.
const (
	DefaultMaxRequestBytes = 64 << 10
	MaxRequestBytesLimit   = 128 << 10
	DefaultListMax         = 10_000
	MaxListMaxSetting      = 1_000_000
)

// sizeRange is a byte size ("64KiB", "65536") from lo to hi.
func (p *parser) sizeRange(name string, def, lo, hi int) int {
	return int(p.sizeIn(name, int64(def), int64(lo), int64(hi),
		fmt.Sprintf("must be a size from %d bytes to %s, such as 64KiB or 65536", lo, FormatSize(int64(hi)))))
}

// inputVariables are what a request may hold.
var inputVariables = []variable{
	{names: []string{"AWO_MAX_REQUEST_BYTES"},
		load: func(p *parser, n []string, c *Config) {
			c.MaxRequestBytes = p.sizeRange(n[0], DefaultMaxRequestBytes, 1, MaxRequestBytesLimit)
		},
		show: func(c *Config) any { return c.MaxRequestBytes }},
	{names: []string{"AWO_LIST_MAX"},
		load: func(p *parser, n []string, c *Config) {
			c.ListMax = p.intRange(n[0], DefaultListMax, 1, MaxListMaxSetting)
		},
		show: func(c *Config) any { return c.ListMax }},
}
