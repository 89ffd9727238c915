package repourl_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/agentworkorders/awo/pkg/repourl"
	"github.com/agentworkorders/awo/pkg/workorder"
)

// localSpellings are hosts on the executor's machine or network, each in a
// spelling git, curl, ssh or the resolver reads as such.
var localSpellings = []string{
	// The done-when cases.
	"169.254.169.254", "127.0.0.1", "[::1]", "10.0.0.1",
	// Loopback in inet_aton's spellings.
	"2130706433", "0x7f000001", "0X7F000001", "0x7F.0x0.0x0.0x1", "0177.0.0.1", "0177.0000.0000.0001",
	"017700000001", "127.1", "127.0.1", "0x7f.1", "127.000.000.001", "0x7f.0.0.1", "127.0.0.0x",
	// Names.
	"localhost", "LOCALHOST", "foo.localhost", "a.b.localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
	// Unspecified.
	"0.0.0.0", "0", "0x0", "00", "0.0.0.1", "[::]", "[0:0:0:0:0:0:0:0]", "[::0]",
	// Private, link-local, CGNAT.
	"10.1.2.3", "012.1.2.3", "167772161", "0xa000001", "10.65535", "172.16.0.1", "172.31.255.255", "192.168.1.1",
	"0xc0.0xa8.1.1", "3232235777", "169.254.0.1", "0xa9fea9fe", "2852039166", "0251.0376.0251.0376", "169.254.43518",
	"100.64.0.1", "100.127.255.254",
	"[fc00::1]", "[fd12:3456::1]", "[FD00::1]", "[fe80::1]", "[FE80::abcd]", "[febf::1]", "[fec0::1]", "[ff02::1]",
	// Loopback and metadata inside IPv6 forms.
	"[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]",
	"[::127.0.0.1]", "[::7f00:1]", "[::ffff:0:127.0.0.1]", "[64:ff9b::127.0.0.1]", "[64:ff9b::a9fe:a9fe]",
	"[64:ff9b:1::10.0.0.1]", "[2002:7f00:1::]", "[2002:a9fe:a9fe::1]", "[2001:0:1:2:3:4:80ff:fffe]",
	"[0000:0000:0000:0000:0000:0000:0000:0001]", "[::0:1]",
	// Multicast and reserved.
	"224.0.0.1", "239.255.255.250", "255.255.255.255", "4294967295", "240.0.0.1", "198.18.0.1",
}

// notAddresses look like IPv4 addresses to resolvers but are not valid ones;
// they are refused even when local repositories are allowed.
var notAddresses = []string{
	"256.0.0.1", "1.2.3.256", "08.0.0.1", "0x100.0.0.1", "1.2.3.4.5", "4294967296", "0x1ffffffff", "09",
	"1.1.65536", "1.16777216",
}

func TestParse_RefusesLocalHostsInEverySpelling(t *testing.T) {
	for _, host := range localSpellings {
		for _, raw := range []string{
			"https://" + host + "/acme/demo",
			"https://" + host + ":8443/acme/demo.git",
			"ssh://git@" + host + "/acme/demo",
			"ssh://git@" + host + ":22/acme/demo",
			"git@" + host + ":acme/demo.git",
		} {
			if strings.HasPrefix(raw, "git@[") {
				continue // scp-like form has no brackets; tested below
			}
			_, err := repourl.Parse(raw, false)
			if err == nil {
				t.Errorf("Parse(%q) accepted a local host", raw)
				continue
			}
			if !errors.Is(err, workorder.ErrInvalid) {
				t.Errorf("Parse(%q): error %v does not wrap ErrInvalid", raw, err)
			}
			if !strings.Contains(err.Error(), "AWO_ALLOW_LOCAL_REPOS") {
				t.Errorf("Parse(%q) = %v, want it to name AWO_ALLOW_LOCAL_REPOS", raw, err)
			}
			if _, err := repourl.Parse(raw, true); err != nil {
				t.Errorf("Parse(%q) with local repositories allowed: %v", raw, err)
			}
		}
	}
}

func TestParse_RefusesBrokenNumericHosts(t *testing.T) {
	for _, host := range notAddresses {
		for _, raw := range []string{"https://" + host + "/acme/demo", "git@" + host + ":acme/demo"} {
			for _, allowLocal := range []bool{false, true} {
				_, err := repourl.Parse(raw, allowLocal)
				if err == nil || !strings.Contains(err.Error(), "looks like an IP address") {
					t.Errorf("Parse(%q, %v) = %v, want a refusal saying it looks like an IP address", raw, allowLocal, err)
				}
			}
		}
	}
}

func TestParse_RefusesOtherSpellingsOfHosts(t *testing.T) {
	for _, raw := range []string{
		"https://127.0.0.1./acme/demo",             // trailing dot
		"https://localhost./acme/demo",             // trailing dot
		"https://%31%32%37.0.0.1/acme/demo",        // percent-encoded
		"https://127.0.0.1%2f/acme/demo",           // percent-encoded slash
		"https://[fe80::1%25eth0]/acme/demo",       // zone id
		"https://[fe80::1%eth0]/acme/demo",         // zone id, raw
		"https://[::1%25lo]/acme/demo",             // zone id on loopback
		"https://１２７.０.０.１/acme/demo",              // full-width digits IDNA would fold
		"https://127.0.0.1:80@evil/acme/demo",      // user information
		"https://evil@127.0.0.1/acme/demo",         // user information
		"https://[::ffff:127.0.0.1%25x]/acme/demo", // zone on a mapped address
	} {
		if r, err := repourl.Parse(raw, false); err == nil {
			t.Errorf("Parse(%q) = %+v, want a refusal", raw, r)
		}
	}
}

func TestParse_AcceptsPublicHosts(t *testing.T) {
	for _, raw := range []string{
		"https://140.82.112.3/acme/demo", "https://8.8.8.8/acme/demo", "https://[2606:4700::1111]/acme/demo",
		"https://[2001:db8::1]/acme/demo", "https://172.32.0.1/acme/demo", "https://100.128.0.1/acme/demo",
		"https://192.169.0.1/acme/demo", "https://localhost.example.com/acme/demo", "https://mylocalhost/acme/demo",
		"https://gitlab.0x7f.example/acme/demo", "git@1.1.1.1:acme/demo", "https://[::ffff:8.8.8.8]/acme/demo",
	} {
		if _, err := repourl.Parse(raw, false); err != nil {
			t.Errorf("Parse(%q): %v", raw, err)
		}
	}
}

// FuzzLocalHost checks that any number an attacker writes as an IPv4 host,
// in any base and any number of parts, is judged by the address it means.
func FuzzLocalHost(f *testing.F) {
	f.Add(uint32(0x7f000001), uint8(0), uint8(4))
	f.Add(uint32(0xa9fea9fe), uint8(1), uint8(1))
	f.Add(uint32(0x0a000001), uint8(2), uint8(2))
	f.Add(uint32(0x08080808), uint8(0), uint8(3))
	f.Fuzz(func(t *testing.T, n uint32, base, parts uint8) {
		host := spell(n, int(base%3), int(parts%4)+1)
		_, errLocal := repourl.Parse("https://"+host+"/acme/demo", true)
		if errLocal != nil {
			t.Fatalf("Parse(%q) with local allowed: %v", host, errLocal)
		}
		_, err := repourl.Parse("https://"+host+"/acme/demo", false)
		local := isLocal(n)
		if local && err == nil {
			t.Fatalf("host %q (%08x) is local but was accepted", host, n)
		}
		if !local && err != nil {
			t.Fatalf("host %q (%08x) is public but was refused: %v", host, n, err)
		}
	})
}

// spell writes n as inet_aton would read it: parts numbers, the last one
// holding the remaining bytes, each in base 0 decimal, 1 octal, 2 hex.
func spell(n uint32, base, parts int) string {
	vals := make([]uint64, parts)
	rest := uint64(n)
	for i := parts - 1; i >= 1; i-- {
		vals[i] = rest & 0xff
		rest >>= 8
	}
	vals[0] = rest
	// Only the last part holds more than a byte.
	if parts > 1 {
		lastBits := uint(8 * (4 - parts + 1))
		vals[parts-1] = uint64(n) & (1<<lastBits - 1)
		hi := uint64(n) >> lastBits
		for i := parts - 2; i >= 0; i-- {
			vals[i] = hi & 0xff
			hi >>= 8
		}
	}
	s := make([]string, parts)
	for i, v := range vals {
		switch base {
		case 1:
			s[i] = "0" + strconvFormat(v, 8)
		case 2:
			s[i] = "0x" + strconvFormat(v, 16)
		default:
			s[i] = strconvFormat(v, 10)
		}
	}
	return strings.Join(s, ".")
}

func isLocal(n uint32) bool {
	in := func(prefix uint32, bits uint) bool { return n>>(32-bits) == prefix>>(32-bits) }
	return in(0x00000000, 8) || in(0x7f000000, 8) || in(0x0a000000, 8) || in(0xac100000, 12) ||
		in(0xc0a80000, 16) || in(0xa9fe0000, 16) || in(0x64400000, 10) || in(0xc0000000, 24) ||
		in(0xc6120000, 15) || in(0xe0000000, 4) || in(0xf0000000, 4)
}

func strconvFormat(v uint64, base int) string { return strconv.FormatUint(v, base) }
