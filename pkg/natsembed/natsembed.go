// Package natsembed runs a nats-server with JetStream inside the process:
// the zero-setup default for `make run` and the broker of the tests.
package natsembed

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
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
}

// Server is a running embedded nats-server.
type Server struct {
	srv *server.Server
}

// Start runs the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.DataDir == "" {
		return nil, fmt.Errorf("starting embedded NATS: no data directory")
	}
	if o.Name == "" {
		o.Name = "awo"
	}
	opts := &server.Options{
		ServerName: o.Name,
		JetStream:  true,
		StoreDir:   filepath.Clean(o.DataDir),
		// The host process owns signals; the server must not exit on them.
		NoSigs:     true,
		NoLog:      true,
		DontListen: o.Listen == "",
		// Large agent outputs travel inside events.
		MaxPayload: 8 << 20,
	}
	if o.Listen != "" {
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
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("starting embedded NATS: not ready after 30s (data dir %s)", o.DataDir)
	}
	return &Server{srv: srv}, nil
}

// Connect opens an in-process client connection.
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.Name(name), nats.InProcessServer(s.srv), nats.MaxReconnects(-1)}, opts...)
	nc, err := nats.Connect("", opts...)
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
