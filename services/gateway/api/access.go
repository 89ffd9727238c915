package api

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/agentworkorders/awo/pkg/config"
	"github.com/agentworkorders/awo/services/gateway/idempotency"
)

// Who may call the API, from where, and how much (see SECURITY.md). The
// pieces, in the order a request meets them:
//
//	checkHost     403 unless Host is a loopback name (DNS rebinding), when on
//	cors          grants only AWO_CORS_ORIGINS; answers preflights itself
//	authenticate  401 without a valid bearer token, when tokens are set
//	requireJSON   415 for a body that is not application/json
//	create        429 over AWO_CREATE_RATE
//	streamLogs    503 over AWO_SSE_MAX_PER_CLIENT / AWO_SSE_MAX

// tokenSet holds the SHA-256 digests of bearer tokens, never the tokens.
// Comparing digests makes every comparison the same length, so neither
// the time taken nor an early exit tells how much of a guess was right.
type tokenSet struct {
	digests [][sha256.Size]byte
	ids     []string // short hex of each digest: the client key for limits
}

func newTokenSet(tokens ...string) tokenSet {
	var s tokenSet
	for _, t := range tokens {
		if t == "" {
			continue
		}
		d := sha256.Sum256([]byte(t))
		s.digests = append(s.digests, d)
		s.ids = append(s.ids, hex.EncodeToString(d[:8]))
	}
	return s
}

func (s tokenSet) empty() bool { return len(s.digests) == 0 }

// compareDigests is subtle.ConstantTimeCompare; a variable so a test can
// see that every configured token is compared, whatever matched first.
var compareDigests = subtle.ConstantTimeCompare

// match reports which token presented is, comparing it with every token
// in constant time and without stopping at the first match.
func (s tokenSet) match(presented string) (int, bool) {
	d := sha256.Sum256([]byte(presented))
	found, index := 0, 0
	for i := range s.digests {
		eq := compareDigests(s.digests[i][:], d[:])
		index = subtle.ConstantTimeSelect(eq&^found, i, index)
		found |= eq
	}
	return index, found == 1
}

// bearer is the token of an "Authorization: Bearer <token>" header; ok is
// false when there is none (no header, another scheme, an empty token).
func bearer(r *http.Request) (token string, ok bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

type clientKeyType struct{}

// clientKey names who is calling, for per-client limits: a hash of the
// token when tokens are configured, the peer's address otherwise. The
// peer's address is RemoteAddr: X-Forwarded-For is anyone's to write. An
// IPv6 peer is keyed by its /64, the block one host is usually given, so
// hopping addresses inside it does not buy a fresh budget.
func clientKey(r *http.Request) string {
	if k, ok := r.Context().Value(clientKeyType{}).(string); ok {
		return k
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		host = ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return "addr:" + host
}

// authenticate admits a request that carries one of the API tokens, and
// answers 401 (RFC 6750) otherwise. With no token configured it admits
// everything. Every route in its group (the API, and the dashboard to
// come) is covered by joining the group.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.apiTokens.empty() {
			next.ServeHTTP(w, r)
			return
		}
		i, ok := s.checkBearer(w, r, s.apiTokens, "AWO_API_TOKENS")
		if !ok {
			return
		}
		ctx := context.WithValue(r.Context(), clientKeyType{}, "token:"+s.apiTokens.ids[i])
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// checkBearer checks r's bearer token against tokens, answering 401 and logging
// the refusal (never the token) when it does not match.
func (s *server) checkBearer(w http.ResponseWriter, r *http.Request, tokens tokenSet, variable string) (int, bool) {
	presented, present := bearer(r)
	i, ok := tokens.match(presented)
	if present && ok {
		return i, true
	}
	reason, challenge, detail := "missing", `Bearer realm="awo"`,
		"this endpoint needs an Authorization: Bearer <token> header with one of the tokens in "+variable
	if present {
		reason, challenge, detail = "wrong", `Bearer realm="awo", error="invalid_token"`,
			"the bearer token is not valid here (not one of the tokens in "+variable+")"
	}
	s.log.Warn("request refused: no valid bearer token",
		"remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "reason", reason)
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"detail": detail})
	return 0, false
}

// checkHost answers 403 to a request whose Host is not a loopback name,
// when the gateway listens on loopback without tokens. A web page whose
// DNS name is made to point at 127.0.0.1 (DNS rebinding) reaches the port
// from the browser, but with its own name in Host.
func (s *server) checkHost(next http.Handler) http.Handler {
	if !s.LoopbackHostOnly {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No Host at all (HTTP/1.0) cannot come from a browser.
		if r.Host == "" || loopbackHost(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		s.log.Warn("request refused: Host is not a loopback name", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
		writeJSON(w, http.StatusForbidden, map[string]string{"detail": "the Host header names something other than this machine's " +
			"loopback (localhost, 127.0.0.1, [::1]); this gateway listens on loopback without API tokens and answers only " +
			"requests addressed to it there (a guard against DNS rebinding); set AWO_API_TOKENS to serve it under other names"})
	})
}

// loopbackHost tells whether a Host header (with or without a port) names
// loopback: localhost, *.localhost (RFC 6761), 127/8 or ::1.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// corsAllowedHeaders are the request headers a granted origin may send.
const corsAllowedHeaders = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, traceparent, tracestate"

// cors grants cross-origin access only to the origins in AWO_CORS_ORIGINS
// (exact scheme://host[:port] matches), with credentials; "*" grants every
// origin without them. Other origins get no Access-Control-* header at
// all, so the browser keeps the answer from the page, and their preflights
// are refused here (403) instead of reaching the router (405).
func (s *server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		granted := s.anyOrigin
		if !granted {
			n, err := config.NormalizeOrigin(origin)
			granted = err == nil && s.origins[n]
		}
		if !granted {
			if preflight {
				writeJSON(w, http.StatusForbidden, map[string]string{"detail": "cross-origin requests from this origin are not allowed; list it in AWO_CORS_ORIGINS"})
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if s.anyOrigin {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		// Browsers hide response headers from scripts unless listed.
		h.Set("Access-Control-Expose-Headers", totalCountHeader+", "+idempotency.ReplayedHeader+", Retry-After")
		if !preflight {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Methods", "DELETE, GET, HEAD, OPTIONS, PATCH, POST")
		h.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}

// requireJSON answers 415 to a POST, PUT or PATCH whose body is not
// declared application/json. Browsers send text/plain, form and multipart
// bodies cross-origin without a preflight; insisting on JSON makes every
// such request a preflighted one, which cors refuses for foreign origins.
// A request without a body (a cancel without a reason) needs no type.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
		default:
			next.ServeHTTP(w, r)
			return
		}
		ct := r.Header.Get("Content-Type")
		if isJSON(ct) || emptyBody(r) {
			next.ServeHTTP(w, r)
			return
		}
		detail := "Content-Type is missing; send the body as application/json"
		if ct != "" {
			detail = fmt.Sprintf("Content-Type %q is not supported; send application/json", ct)
		}
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"detail": detail})
	})
}

// emptyBody tells whether r has no body, reading one byte of a body of
// unknown length (chunked) and putting it back.
func emptyBody(r *http.Request) bool {
	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0:
		return true
	case r.ContentLength > 0:
		return false
	}
	br := bufio.NewReader(r.Body)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return true
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	return false
}

// isJSON accepts application/json and the application/*+json types, with
// any parameters, in any case.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// maxLimitedClients bounds the create limiter's memory: a scan from many
// addresses evicts idle clients instead of growing the map.
const maxLimitedClients = 10_000

// clientLimits is a token bucket per client (golang.org/x/time/rate).
type clientLimits struct {
	limit rate.Limit
	burst int
	// refill is how long an untouched bucket takes to fill up; an entry
	// idle that long is the same as a new one and can be dropped.
	refill time.Duration
	max    int

	mu      sync.Mutex
	clients map[string]*limited
}

type limited struct {
	lim  *rate.Limiter
	seen time.Time
}

func newClientLimits(r config.Rate, max int) *clientLimits {
	if r.Off() {
		return nil
	}
	perSecond := r.PerSecond()
	return &clientLimits{
		limit:   rate.Limit(perSecond),
		burst:   r.Burst,
		refill:  time.Duration(float64(r.Burst) / perSecond * float64(time.Second)),
		max:     max,
		clients: map[string]*limited{},
	}
}

// wait takes one event from key's bucket; it returns 0 when allowed, and
// otherwise how long until it would be, taking nothing.
func (c *clientLimits) wait(key string, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.clients[key]
	if !ok {
		if len(c.clients) >= c.max {
			c.evict(now)
		}
		e = &limited{lim: rate.NewLimiter(c.limit, c.burst)}
		c.clients[key] = e
	}
	e.seen = now
	res := e.lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Hour
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// evict drops the clients whose buckets are full again, and if every one
// is busy, arbitrary ones until there is room: a dropped client starts
// over with a full bucket, which costs at most one burst.
func (c *clientLimits) evict(now time.Time) {
	for k, e := range c.clients {
		if now.Sub(e.seen) >= c.refill {
			delete(c.clients, k)
		}
	}
	for k := range c.clients {
		if len(c.clients) < c.max {
			break
		}
		delete(c.clients, k)
	}
}

func (c *clientLimits) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.clients)
}

// limitCreate answers 429 when the caller is over AWO_CREATE_RATE.
func (s *server) limitCreate(r *http.Request) error {
	if s.createLimits == nil {
		return nil
	}
	d := s.createLimits.wait(clientKey(r), time.Now())
	if d <= 0 {
		return nil
	}
	secs := max(1, int(math.Ceil(d.Seconds())))
	return &problem{status: http.StatusTooManyRequests, retryAfter: secs,
		detail: fmt.Sprintf("too many work orders created from this client (AWO_CREATE_RATE=%s); retry in %d s", s.CreateRate, secs)}
}

// streamCaps counts the open live streams (log streams and event feeds),
// per client and in all.
type streamCaps struct {
	perClient, total int

	mu   sync.Mutex
	open map[string]int
	all  int
}

// sseRetryAfter is what a client over the stream caps is told to wait.
const sseRetryAfter = 5

// acquire counts one more stream for key, or refuses it (503).
func (c *streamCaps) acquire(key string) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.open[key] >= c.perClient:
		return nil, &problem{status: http.StatusServiceUnavailable, retryAfter: sseRetryAfter,
			detail: fmt.Sprintf("this client already has %d live streams (logs and event feeds) open (AWO_SSE_MAX_PER_CLIENT); close one and retry", c.perClient)}
	case c.all >= c.total:
		return nil, &problem{status: http.StatusServiceUnavailable, retryAfter: sseRetryAfter,
			detail: fmt.Sprintf("the gateway already serves %d live streams (logs and event feeds) (AWO_SSE_MAX); retry shortly", c.total)}
	}
	c.open[key]++
	c.all++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.all--
			if c.open[key]--; c.open[key] <= 0 {
				delete(c.open, key)
			}
		})
	}, nil
}

// retryAfterHeader formats whole seconds for Retry-After.
func retryAfterHeader(secs int) string { return strconv.Itoa(max(1, secs)) }

// initAccess prepares the access settings of s.Options.
func (s *server) initAccess() {
	s.apiTokens = newTokenSet(s.APITokens...)
	if s.MetricsToken != "" {
		s.metricsTokens = newTokenSet(append([]string{s.MetricsToken}, s.APITokens...)...)
	}
	s.origins = map[string]bool{}
	for _, o := range s.CORSOrigins {
		if o == "*" {
			s.anyOrigin = true
			continue
		}
		if n, err := config.NormalizeOrigin(o); err == nil {
			s.origins[n] = true
		}
	}
	s.createLimits = newClientLimits(s.CreateRate, maxLimitedClients)
	s.streams = &streamCaps{perClient: s.SSEMaxPerClient, total: s.SSEMax, open: map[string]int{}}
}
