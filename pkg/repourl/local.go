package repourl

import (
	"net/netip"
	"strings"
)

// LocalKind says why host (a name or a literal address, an IPv6 one with
// or without brackets) is on the local machine or network — "loopback",
// "private", "link-local"... — or "" when it is not. ok is false for a
// host that looks like an IPv4 address but is not a valid one. Like the
// repository checks, it judges literal addresses and loopback names only;
// a DNS name needs its answers judged with AddrKind when connecting.
func LocalKind(host string) (kind string, ok bool) {
	host = strings.ToLower(host)
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return localKind(host)
}

// AddrKind is LocalKind for an address a connection is about to be made
// to: "" when it is outside every refused range.
func AddrKind(a netip.Addr) string { return addrKind(a) }
