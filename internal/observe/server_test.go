package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "asf_test_value", Help: "A test gauge."})
	g.Set(42)
	reg.MustRegister(g)
	var unhealthy error
	s, err := start(context.Background(), DefaultConfig("127.0.0.1:0"), routes{
		gatherer: reg,
		health:   func() error { return unhealthy },
		handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page "+r.URL.Path) }),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := s.URL()
	if !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.HasSuffix(u, "/") {
		t.Fatalf("URL %q", u)
	}
	tests := []struct {
		name, path string
		before     func()
		code       int
		body       string
	}{
		{"metrics", "metrics", nil, 200, "asf_test_value 42"},
		{"healthy", "healthz", nil, 200, "ok\n"},
		{"other paths go to the handler", "x/y", nil, 200, "page /x/y"},
		{"failed", "healthz", func() { unhealthy = errors.New("job failed: boom") }, 503, "job failed: boom\n"},
		{"stopping", "healthz", func() { unhealthy = nil; s.stopping.Store(true) }, 503, "stopping\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			code, body := get(t, u+tc.path)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("GET /%s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.body)
			}
		})
	}
}

// A taken port is an error, unless Fallback: then a free port of the same host.
func TestFallback(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := DefaultConfig(busy.Addr().String())
	if _, err := start(context.Background(), cfg, routes{}); err == nil {
		t.Fatal("Start on a taken port without Fallback succeeded")
	}
	cfg.Fallback = true
	s, err := start(context.Background(), cfg, routes{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.lis.Addr().String() == busy.Addr().String() {
		t.Fatalf("serving on the taken address %s", s.lis.Addr())
	}
	if code, body := get(t, s.URL()+"healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz on the fallback port: %d %q", code, body)
	}
}

// The server stops when its context ends.
func TestContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := start(ctx, DefaultConfig("127.0.0.1:0"), routes{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop")
	}
	if _, err := http.Get(s.URL() + "healthz"); err == nil {
		t.Fatal("the server still answers after its context ended")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no port", func(c *Config) { c.Addr = "localhost" }, "Addr"},
		{"no read header timeout", func(c *Config) { c.ReadHeaderTimeout = 0 }, "ReadHeaderTimeout"},
		{"negative grace", func(c *Config) { c.ShutdownGrace = -time.Second }, "ShutdownGrace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig(":0")
			tc.edit(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
	if err := DefaultConfig(":8080").Validate(); err != nil {
		t.Fatal(err)
	}
}

// /debug/pprof/ is served only with Config.Pprof; without it the path goes
// to the other routes like any other.
func TestPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("pprof=%v", on), func(t *testing.T) {
			cfg := DefaultConfig("127.0.0.1:0")
			cfg.Pprof = on
			s, err := start(context.Background(), cfg, routes{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			code, body := get(t, s.URL()+"debug/pprof/goroutine?debug=1")
			served := code == 200 && strings.Contains(body, "goroutine profile:")
			if served != on {
				t.Fatalf("GET /debug/pprof/goroutine with Pprof %v: %d %.80q", on, code, body)
			}
		})
	}
}
