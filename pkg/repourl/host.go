package repourl

import (
	"net/netip"
	"strconv"
	"strings"
)

// A repository host that is an address on the executor's own machine or
// network lets a work order reach what the outside cannot: the cloud
// metadata service at 169.254.169.254, an admin page on 127.0.0.1, an
// internal git server. Those hosts are refused unless local repositories are
// allowed. Only literal addresses and well-known loopback names are judged
// here: a DNS name that resolves to a private address is not (that needs a
// resolver, and the answer may change between this check and git's own
// lookup).

// loopbackNames are names the usual resolvers map to the machine itself
// (RFC 6761 reserves .localhost; the others are common /etc/hosts entries).
var loopbackNames = map[string]bool{
	"localhost": true, "localhost.localdomain": true, "ip6-localhost": true, "ip6-loopback": true,
}

// refusedRanges are address ranges a repository host must not be in, each
// with the word the refusal uses.
type refusedRanges []struct {
	prefix netip.Prefix
	kind   string
}

// kindOf is the word for the first range holding a; empty when none does.
func (rs refusedRanges) kindOf(a netip.Addr) string {
	for _, r := range rs {
		if r.prefix.Contains(a) {
			return r.kind
		}
	}
	return ""
}

// v4Ranges are the IPv4 ranges a repository host must not be in, with the
// word the refusal uses.
var v4Ranges = refusedRanges{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// v6Ranges are the IPv6 ranges refused outright.
var v6Ranges = refusedRanges{
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("100::/64"), "reserved"},
}

// embeddedV4 are IPv6 ranges that carry an IPv4 address a connection may
// end up at: IPv4-mapped, IPv4-compatible, SIIT, NAT64 (RFC 6052 and the
// local-use RFC 8215 prefix) in the last 32 bits; 6to4 in bits 16-47;
// Teredo's client in the last 32 bits, inverted.
var embeddedV4 = []struct {
	prefix netip.Prefix
	at     int  // byte offset of the IPv4 address
	invert bool // Teredo obfuscates the client address
}{
	{netip.MustParsePrefix("::ffff:0:0/96"), 12, false},
	{netip.MustParsePrefix("::/96"), 12, false},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), 12, false},
	{netip.MustParsePrefix("64:ff9b::/96"), 12, false},
	{netip.MustParsePrefix("64:ff9b:1::/48"), 12, false},
	{netip.MustParsePrefix("2002::/16"), 2, false},
	{netip.MustParsePrefix("2001::/32"), 12, true},
}

// localKind says why host (lower case, without port; an IPv6 address in
// brackets) is on the local machine or network, or "" when it is not.
// ok is false when host looks like an IPv4 address but is not a valid one.
func localKind(host string) (kind string, ok bool) {
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if err != nil {
			return "", false
		}
		return addrKind(a), true
	}
	if loopbackNames[host] || strings.HasSuffix(host, ".localhost") {
		return "loopback", true
	}
	if !looksNumeric(host) {
		return "", true
	}
	a, ok := inetAton(host)
	if !ok {
		return "", false
	}
	return addrKind(a), true
}

// looksNumeric reports whether host's last label is a number, which makes
// resolvers read the whole host as an IPv4 address (inet_aton) and the URL
// standard treat it as one: no top-level domain is numeric.
func looksNumeric(host string) bool {
	last := host[strings.LastIndex(host, ".")+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// inetAton parses host the way inet_aton(3) does, which is how ssh, the
// system resolver and curl's URL parser read a numeric host: one to four
// dot-separated parts, each decimal, octal (leading 0) or hexadecimal
// (leading 0x); the last part fills the remaining bytes. "2130706433",
// "0x7f000001", "0177.0.0.1" and "127.1" are all 127.0.0.1.
func inetAton(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := atonPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	// Every part but the last is one byte; the last fills what is left.
	var n uint64
	for _, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n = n<<8 | v
	}
	last := vals[len(vals)-1]
	bits := uint(8 * (4 - len(vals) + 1))
	if last >= 1<<bits {
		return netip.Addr{}, false
	}
	n = n<<bits | last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func atonPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base, digits := 10, p
	switch {
	case strings.HasPrefix(p, "0x"):
		base, digits = 16, p[2:]
		if digits == "" {
			return 0, true // glibc reads a bare "0x" as 0
		}
	case len(p) > 1 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	v, err := strconv.ParseUint(digits, base, 32)
	return v, err == nil
}

// addrKind classifies an address, looking through the IPv6 forms that carry
// an IPv4 address.
func addrKind(a netip.Addr) string {
	if a.Zone() != "" {
		return "link-local"
	}
	if a.Is4() {
		return v4Ranges.kindOf(a)
	}
	if kind := v6Ranges.kindOf(a); kind != "" {
		return kind
	}
	b := a.As16()
	for _, e := range embeddedV4 {
		if !e.prefix.Contains(a) {
			continue
		}
		v4 := [4]byte(b[e.at : e.at+4])
		if e.invert {
			for i := range v4 {
				v4[i] = ^v4[i]
			}
		}
		if k := addrKind(netip.AddrFrom4(v4)); k != "" {
			return k
		}
	}
	return ""
}
