package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Byte size units: IEC (KiB = 1024) and SI (KB = 1000), as operators write
// them in disk limits.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
	"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50,
}

// ParseSize reads a byte size: plain bytes ("1073741824") or a number with
// a unit ("1GiB", "500MiB", "2GB", "1.5 GiB"); units are case-insensitive.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size such as 1GiB, 500MiB, 2GB or a number of bytes", s)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size such as 1GiB, 500MiB, 2GB or a number of bytes", s)
	}
	v := n * mult
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// FormatSize renders bytes in the largest IEC unit that keeps the number at
// least 1, with one decimal when it is not whole: "300 MiB", "1.5 GiB".
func FormatSize(b int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(b), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[u]
}

func (p *parser) size(name string, def int64) int64 {
	return p.sizeIn(name, def, 0, math.MaxInt64, "must be a size such as 1GiB, 500MiB, 2GB or a number of bytes (0 turns the check off)")
}

// sizeIn is a byte size from lo to hi; rule says what a value must be when
// it is not one.
func (p *parser) sizeIn(name string, def, lo, hi int64, rule string) int64 {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, rule)
		return def
	}
	return n
}

func sizeString(b int64) string {
	if b == 0 {
		return "0 (no check)"
	}
	return FormatSize(b)
}

func retentionString(d time.Duration) string {
	if d == 0 {
		return "0 (keep sandboxes forever)"
	}
	return d.String()
}
