package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthServer starts a real gRPC server with the standard health service on
// a loopback port and returns its address and the health server.
func healthServer(t *testing.T, withHealth bool) (string, *health.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	h := health.NewServer()
	if withHealth {
		healthpb.RegisterHealthServer(srv, h)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), h
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestCheckHealth(t *testing.T) {
	serving, hs := healthServer(t, true)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("asf.Coordinator", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("asf.Down", healthpb.HealthCheckResponse_NOT_SERVING)
	notServing, hn := healthServer(t, true)
	hn.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	noHealth, _ := healthServer(t, false)

	// A listener that accepts connections and never answers: the timeout must end the check.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.Write([]byte("ok\n"))
			return
		}
		http.Error(w, "store closed", http.StatusServiceUnavailable)
	}))
	t.Cleanup(web.Close)

	tests := []struct {
		name, target, service string
		want                  string // in the healthy line, or in the error
		healthy               bool
	}{
		{"serving", serving, "", "server is SERVING", true},
		{"serving service", serving, "asf.Coordinator", "service asf.Coordinator is SERVING", true},
		{"service not serving", serving, "asf.Down", "service asf.Down is NOT_SERVING", false},
		{"unknown service", serving, "asf.Nope", "does not know service asf.Nope", false},
		{"not serving", notServing, "", "server is NOT_SERVING", false},
		{"no health service", noHealth, "", "does not serve the gRPC health service", false},
		{"nothing listening", closedAddr(t), "", "not reachable", false},
		{"silent", silent.Addr().String(), "", "no answer before the timeout", false},
		{"http ok", web.URL + "/healthz", "", "HTTP 200 OK", true},
		{"http 503", web.URL + "/other", "", "HTTP 503 Service Unavailable: store closed", false},
		{"http nothing listening", "http://" + closedAddr(t) + "/healthz", "", "not reachable", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			line, err := checkHealth(ctx, tc.target, tc.service)
			if tc.healthy {
				if err != nil {
					t.Fatalf("checkHealth(%s): %v, want healthy", tc.target, err)
				}
				if !strings.Contains(line, tc.want) || !strings.Contains(line, tc.target) {
					t.Fatalf("line %q, want it to name %s and say %q", line, tc.target, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkHealth(%s) = %q, want an error saying %q", tc.target, line, tc.want)
			}
			if !errors.Is(err, errUnhealthy) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want errUnhealthy saying %q", err, tc.want)
			}
		})
	}
}

func TestCheckHealthBadAddress(t *testing.T) {
	_, err := checkHealth(context.Background(), "coordinator", "")
	if err == nil || errors.Is(err, errUnhealthy) || !strings.Contains(err.Error(), `address "coordinator": want host:port`) {
		t.Fatalf("error %v: want a usage error naming the address", err)
	}
}

func TestDefaultHealthAddr(t *testing.T) {
	tests := []struct{ listen, want string }{
		{"", "127.0.0.1:7070"},
		{":7071", "127.0.0.1:7071"},
		{"0.0.0.0:7072", "127.0.0.1:7072"},
		{"[::]:7073", "127.0.0.1:7073"},
		{"10.1.2.3:7074", "10.1.2.3:7074"},
		{"127.0.0.1:0", "127.0.0.1:7070"}, // a free port cannot be guessed
		{"garbage", "127.0.0.1:7070"},
	}
	for _, tc := range tests {
		t.Setenv("ASF_LISTEN", tc.listen)
		if got := defaultHealthAddr(); got != tc.want {
			t.Errorf("ASF_LISTEN=%q: %s, want %s", tc.listen, got, tc.want)
		}
	}
}

// TestHealthCommand runs `asf health` through the root command: exit status
// (the error) and output, with the address from the argument and from
// ASF_LISTEN.
func TestHealthCommand(t *testing.T) {
	addr, hs := healthServer(t, true)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		rootCmd.SetArgs(args)
		rootCmd.SetOut(&out)
		rootCmd.SetErr(&out)
		defer func() {
			reset := func(f *pflag.Flag) { f.Value.Set(f.DefValue); f.Changed = false }
			rootCmd.PersistentFlags().VisitAll(reset)
			for _, c := range rootCmd.Commands() {
				if c.Name() == "health" {
					c.Flags().VisitAll(reset)
				}
			}
			rootCmd.SetArgs(nil)
			rootCmd.SetOut(nil)
			rootCmd.SetErr(nil)
		}()
		err := rootCmd.Execute()
		return out.String(), err
	}
	out, err := run("health", addr)
	if err != nil || !strings.Contains(out, addr+": server is SERVING") {
		t.Fatalf("asf health %s: %q, %v", addr, out, err)
	}
	_, port, _ := net.SplitHostPort(addr)
	t.Setenv("ASF_LISTEN", ":"+port)
	if out, err := run("health"); err != nil || !strings.Contains(out, "127.0.0.1:"+port+": server is SERVING") {
		t.Fatalf("asf health with ASF_LISTEN=:%s: %q, %v", port, out, err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if _, err := run("health", addr, "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), "NOT_SERVING") {
		t.Fatalf("asf health on a NOT_SERVING server: %v, want an error", err)
	}
	if _, err := run("health", addr, "--timeout", "0s"); err == nil || !strings.Contains(err.Error(), "--timeout 0s") {
		t.Fatalf("asf health --timeout 0s: %v, want a usage error", err)
	}
}
