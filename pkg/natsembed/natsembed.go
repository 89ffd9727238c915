// Package natsembed runs a nats-server with JetStream inside the process:
// the zero-setup default for `make run` and the broker of the tests.
package natsembed

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configure the embedded server.
type Options struct {
	// DataDir holds JetStream's files; the server keeps its data across
	// restarts when the same directory is given again.
	DataDir string
	// Listen is host:port where the server also accepts network clients
	// (the nats CLI, separate service binaries). Empty: in-process only.
	// Port 0 picks a free port.
	Listen string
	// Name is the server name (default "awo").
	Name string
	// ConfigFile (AWO_NATS_CONFIG) is a standard nats-server configuration
	// file: users, nkeys, accounts, permissions, TLS, limits. What awo
	// needs is applied on top of it (see Start).
	ConfigFile string
}

// Server is a running embedded nats-server.
type Server struct {
	srv  *server.Server
	auth bool
}

// RequiresAuthentication reports whether clients, in-process ones
// included, must present credentials.
func (s *Server) RequiresAuthentication() bool { return s.auth }

// Start runs the server and waits until it accepts connections.
//
// With a ConfigFile the file is the base and awo then owns: JetStream is
// on; its store is the file's store_dir when it sets one, else DataDir;
// the server ignores signals (the host process owns them); MaxPayload is at
// least 8 MiB; and Listen, when set, replaces the file's listen address.
// Without Listen the server listens where the file says, or nowhere (in
// process only) when the file names no port.
//
// A server reachable from other hosts (a non-loopback listen address)
// without authentication refuses to start: anyone who can reach the port
// could publish a forged step.completed or delete the streams.
func Start(o Options) (*Server, error) {
	if o.DataDir == "" {
		return nil, fmt.Errorf("starting embedded NATS: no data directory")
	}
	opts, err := serverOptions(o)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting embedded NATS: %w", err)
	}
	if !opts.NoLog {
		srv.ConfigureLogger()
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("starting embedded NATS: not ready after 30s (data dir %s)", opts.StoreDir)
	}
	return &Server{srv: srv, auth: HasAuthentication(opts)}, nil
}

// minPayload is the least MaxPayload awo works with: large agent outputs
// travel inside events.
const minPayload = 8 << 20

// serverOptions builds the server's options from o: the configuration file,
// if any, with what awo owns applied on top.
func serverOptions(o Options) (*server.Options, error) {
	opts := &server.Options{}
	if o.ConfigFile != "" {
		fromFile, err := server.ProcessConfigFile(o.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("starting embedded NATS: AWO_NATS_CONFIG=%s: %w", o.ConfigFile, err)
		}
		opts = fromFile
	}
	if opts.ServerName == "" {
		opts.ServerName = o.Name
		if opts.ServerName == "" {
			opts.ServerName = "awo"
		}
	}
	opts.JetStream = true
	if opts.StoreDir == "" {
		opts.StoreDir = filepath.Clean(o.DataDir)
	}
	// The host process owns signals; the server must not exit on them.
	opts.NoSigs = true
	// The server logs only when the file asks for it (log_file, debug,
	// trace); by default awo's own log is enough.
	opts.NoLog = opts.LogFile == "" && !opts.Debug && !opts.Trace
	opts.MaxPayload = max(opts.MaxPayload, minPayload)
	switch {
	case o.Listen != "":
		host, portStr, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("starting embedded NATS: listen address %q: %w", o.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("starting embedded NATS: listen port %q is not a port number", portStr)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port, opts.DontListen = host, port, false
	case o.ConfigFile == "" || (opts.Port == 0 && opts.Host == ""):
		opts.DontListen = true
	}
	if err := checkExposure(o, opts); err != nil {
		return nil, err
	}
	return opts, nil
}

// checkExposure refuses a listen address other hosts can reach when no
// client has to authenticate.
func checkExposure(o Options, opts *server.Options) error {
	if opts.DontListen || HasAuthentication(opts) || loopbackHost(opts.Host) {
		return nil
	}
	addr := net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))
	where := "AWO_NATS_LISTEN=" + o.Listen
	if o.Listen == "" {
		where = "the listen address of AWO_NATS_CONFIG=" + o.ConfigFile
	}
	return fmt.Errorf("starting embedded NATS: %s (%s) is reachable from other hosts, and no NATS authentication is configured: "+
		"anyone who can reach it could forge events or delete the streams. Listen on 127.0.0.1 (e.g. AWO_NATS_LISTEN=127.0.0.1:4222), "+
		"or set AWO_NATS_CONFIG to a nats-server configuration with users, nkeys, a token or TLS client certificates (see deploy/nats/awo.conf)",
		where, addr)
}

// HasAuthentication reports whether the server makes every client
// authenticate: users, nkeys, a token or a single user, operators (JWT),
// auth callout, or TLS client certificates. A no_auth_user lets clients
// without credentials in as that user, so it does not count.
func HasAuthentication(opts *server.Options) bool {
	if opts.NoAuthUser != "" {
		return false
	}
	return len(opts.Users) > 0 || len(opts.Nkeys) > 0 || opts.Authorization != "" || opts.Username != "" ||
		opts.AuthCallout != nil || len(opts.TrustedOperators) > 0 || len(opts.TrustedKeys) > 0 || opts.TLSVerify
}

// loopbackHost reports whether host only accepts connections from this
// machine. An empty host, 0.0.0.0 and :: listen on every interface.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Connect opens an in-process client connection.
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.Name(name), nats.InProcessServer(s.srv), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil && s.auth {
		// An in-process connection the server turns away only sees its pipe
		// closed.
		return nil, fmt.Errorf("connecting to embedded NATS as %s (AWO_NATS_CONFIG requires authentication; are the NATS_* credentials right?): %w", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to embedded NATS: %w", err)
	}
	return nc, nil
}

// ClientURL is the address network clients use, or "" when the server
// only accepts in-process connections.
func (s *Server) ClientURL() string {
	if s.srv.ClientURL() == "" || s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// Shutdown stops the server and waits for it to finish writing.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// Traffic is how many messages the server has received from its clients
// and sent to them since it started, its own JetStream work included: what
// the benchmark divides by work orders.
func (s *Server) Traffic() (in, out int64, err error) {
	v, err := s.srv.Varz(nil)
	if err != nil {
		return 0, 0, fmt.Errorf("reading the server's counters: %w", err)
	}
	return v.InMsgs, v.OutMsgs, nil
}
