package observe

// The HTTP server under Start: timeouts on every connection, a graceful
// shutdown when its context ends or Close is called.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrConfig reports a configuration field with a bad value.
var ErrConfig = errors.New("observe: invalid configuration")

// Config configures the HTTP server of a node.
type Config struct {
	// Addr is the listen address, host:port.
	Addr string
	// Fallback: if Addr's port is taken, listen on a free port of the same
	// host instead (and log it) rather than fail.
	Fallback bool
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound each
	// connection; ShutdownGrace bounds a graceful shutdown.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownGrace     time.Duration
	// Pprof serves Go's runtime profiles under /debug/pprof/ (net/http/pprof:
	// CPU, heap, goroutines, execution traces). Off by default: a profile
	// shows the process's internals to whoever reaches the address.
	Pprof bool
	// Logger receives the server's log; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a configuration for addr.
func DefaultConfig(addr string) Config {
	return Config{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,  // a client that sends no request is dropped (Slowloris)
		ReadTimeout:       10 * time.Second, // requests are small GETs
		WriteTimeout:      30 * time.Second, // a scrape or a state snapshot takes milliseconds; a slow reader is cut
		IdleTimeout:       2 * time.Minute,  // keep-alive for a polling dashboard, not forever
		ShutdownGrace:     3 * time.Second,  // in-flight requests are all short
	}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s is %v, want %s", ErrConfig, field, v, want)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("Addr", fmt.Sprintf("%q", c.Addr), "host:port (the host may be empty)")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReadHeaderTimeout", c.ReadHeaderTimeout}, {"ReadTimeout", c.ReadTimeout}, {"WriteTimeout", c.WriteTimeout},
		{"IdleTimeout", c.IdleTimeout}, {"ShutdownGrace", c.ShutdownGrace}} {
		if d.v <= 0 {
			return bad(d.name, d.v, "> 0")
		}
	}
	return nil
}

// routes is what the server serves besides its own checks.
type routes struct {
	// gatherer is served at /metrics (nil: no /metrics).
	gatherer prometheus.Gatherer
	// health is asked by /healthz: nil error = 200 "ok", an error = 503 with
	// its text. Nil means healthy while the server runs.
	health func() error
	// handler serves every other path (nil: 404), e.g. the dashboard.
	handler http.Handler
}

// Server is a node's running HTTP server.
type Server struct {
	cfg      Config
	routes   routes
	log      *slog.Logger
	lis      net.Listener
	srv      *http.Server
	stopping atomic.Bool
	done     chan struct{}
	once     sync.Once
	err      error
}

// start listens on cfg.Addr and serves r until ctx ends or Close is called.
func start(ctx context.Context, cfg Config, r routes) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil && cfg.Fallback && errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		alt := net.JoinHostPort(host, "0")
		lis, err = net.Listen("tcp", alt)
		if err == nil {
			log.Warn("HTTP address in use; serving on a free port instead", "wanted", cfg.Addr, "addr", lis.Addr().String())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("observe: listen %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, routes: r, log: log, lis: lis, done: make(chan struct{})}
	s.srv = &http.Server{Handler: s.mux(), ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = err
			log.Error("HTTP server", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

func (s *Server) mux() http.Handler {
	mux := http.NewServeMux()
	if s.routes.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.routes.gatherer, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError}))
	}
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if s.routes.handler != nil {
		mux.Handle("/", s.routes.handler)
	}
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var err error
	switch {
	case s.stopping.Load():
		err = errors.New("stopping")
	case s.routes.health != nil:
		err = s.routes.health()
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, err)
		return
	}
	fmt.Fprintln(w, "ok")
}

// URL is the server's base URL, ending in "/"; a server listening on all
// interfaces is named by 127.0.0.1.
func (s *Server) URL() string {
	host, port, _ := net.SplitHostPort(s.lis.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// Close marks the server stopping and shuts it down gracefully: requests in
// flight get ShutdownGrace to finish, then connections are closed. It waits
// for the server to stop and is safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.stopping.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.log.Debug("HTTP graceful shutdown cut short", "err", err)
			_ = s.srv.Close()
		}
	})
	<-s.done
	return s.err
}
