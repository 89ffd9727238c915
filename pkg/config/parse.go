package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentworkorders/awo/pkg/redact"
)

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) get(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) fail(name, v, want string) {
	p.errs = append(p.errs, fmt.Errorf("%s=%q: %s", name, v, want))
}

func (p *parser) str(name, def string) string {
	if v, ok := p.get(name); ok {
		return v
	}
	return def
}

func (p *parser) first(names ...string) string {
	for _, n := range names {
		if v, ok := p.get(n); ok {
			return v
		}
	}
	return ""
}

func (p *parser) intRange(name string, def, lo, hi int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

func (p *parser) boolean(name string, def bool) bool {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	p.fail(name, v, "must be true or false")
	return def
}

// duration accepts Go durations ("90s", "5m") or plain seconds ("30").
func (p *parser) duration(name string, def, lo time.Duration) time.Duration {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			p.fail(name, v, "must be a duration such as 30s or 5m, or a number of seconds")
			return def
		}
		d = time.Duration(n) * time.Second
	}
	if d < lo {
		p.fail(name, v, fmt.Sprintf("must be at least %s", lo))
		return def
	}
	return d
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a
		}
	}
	p.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
	return def
}

func (p *parser) level(name string) slog.Level {
	v, ok := p.get(name)
	if !ok {
		return slog.LevelInfo
	}
	var l slog.Level
	s := strings.ToUpper(v)
	if s == "WARNING" {
		s = "WARN"
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		p.fail(name, v, "must be one of DEBUG, INFO, WARN, ERROR")
		return slog.LevelInfo
	}
	return l
}

func (p *parser) httpURL(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, redact.URL(v), "must be an http:// or https:// URL")
		return ""
	}
	return strings.TrimRight(v, "/")
}

func (p *parser) hostPort(name string) string {
	v, ok := p.get(name)
	if !ok {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(name, v, "must be host:port, e.g. 127.0.0.1:4222 or :9464")
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, v, "port must be a number from 0 to 65535")
		return ""
	}
	return v
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "****"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}
