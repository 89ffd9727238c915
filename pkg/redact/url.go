package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// URLMask stands for a masked credential in a connection string; unlike
// Mask it needs no escaping inside a URL.
const URLMask = "xxxxx"

var (
	// dsnSecret is a password in a key/value DSN (libpq's "host=db
	// password=s3cret", quoted or not).
	dsnSecret = regexp.MustCompile(`(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s,;]+)`)
	// urlPassword covers URLs that url.Parse rejects.
	urlPassword = regexp.MustCompile(`(://[^:/@\s,]*:)[^@\s,]*@`)
)

// secretParams are query parameters whose values are credentials.
var secretParams = map[string]bool{
	"password": true, "sslpassword": true, "pass": true, "pwd": true,
	"token": true, "access_token": true, "auth_token": true, "authtoken": true,
	"api_key": true, "apikey": true, "secret": true, "client_secret": true,
}

// tokenSchemes are the URL schemes whose user part, alone, is a token
// (nats://s3cret@host means token authentication).
var tokenSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// URL masks the credentials of a connection string in every form it takes
// in this project's settings, for start-up lines and error messages:
// passwords in userinfo (scheme://user:pw@host), a NATS URL's lone token
// (nats://token@host), credential query parameters (?password=,
// ?sslpassword=, ?token=, …), key/value DSNs (host=db password=s3cret) and
// comma-separated lists of URLs (NATS server lists). User names stay, so
// the reader still knows which account was used.
func URL(s string) string {
	if s == "" {
		return s
	}
	if strings.Contains(s, ",") && strings.Count(s, "://") > 1 {
		parts := strings.Split(s, ",")
		for i, p := range parts {
			parts[i] = URL(p)
		}
		return strings.Join(parts, ",")
	}
	if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.Scheme != "" && (u.Host != "" || u.User != nil) {
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), URLMask)
			} else if tokenSchemes[strings.ToLower(u.Scheme)] && u.User.Username() != "" {
				u.User = url.User(URLMask)
			}
		}
		u.RawQuery = maskQuery(u.RawQuery)
		return u.String()
	}
	s = urlPassword.ReplaceAllString(s, "${1}"+URLMask+"@")
	return dsnSecret.ReplaceAllString(s, "${1}"+URLMask)
}

// maskQuery masks credential parameters, keeping the others and their
// order as written.
func maskQuery(q string) string {
	if q == "" {
		return q
	}
	params := strings.Split(q, "&")
	for i, p := range params {
		k, _, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		if name, err := url.QueryUnescape(k); err == nil && secretParams[strings.ToLower(name)] {
			params[i] = k + "=" + URLMask
		}
	}
	return strings.Join(params, "&")
}
