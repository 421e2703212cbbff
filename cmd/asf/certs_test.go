package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/internal/secure"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// `asf certs init` makes files that `asf health` uses for mutual TLS with a
// node; a second init refuses; health without the files is refused.
func TestCertsInitAndHealthTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	out, err := runWith(t, newCertsCmd, "init", dir, "--hosts", "localhost,127.0.0.1,coord.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "ca.crt") || !strings.Contains(out, "coord.example") {
		t.Fatalf("output:\n%s", out)
	}
	if _, err := runWith(t, newCertsCmd, "init", dir); !errors.Is(err, secure.ErrExists) {
		t.Fatalf("second init: %v, want ErrExists", err)
	}
	if out, err := runWith(t, newCertsCmd, "init", dir, "--exist-ok"); err != nil || !strings.Contains(out, "nothing written") {
		t.Fatalf("init --exist-ok on a full directory: %q %v", out, err)
	}
	partial := t.TempDir()
	if err := os.WriteFile(filepath.Join(partial, secure.CAFile), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runWith(t, newCertsCmd, "init", partial, "--exist-ok"); err == nil || !strings.Contains(err.Error(), "holds 1 of the") {
		t.Fatalf("init --exist-ok on a partial directory: %v", err)
	}

	f := func(r secure.Role) secure.Files {
		return secure.Files{CA: filepath.Join(dir, secure.CAFile), Cert: filepath.Join(dir, secure.CertFile(r)), Key: filepath.Join(dir, secure.KeyFile(r))}
	}
	node, err := secure.Load(f(secure.RoleWorker))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(node.ServerOption(nil))
	h := health.NewServer()
	healthpb.RegisterHealthServer(srv, h)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	addr := lis.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tf := tlsFlags{files: f(secure.RoleClient)}
	creds, err := tf.dialOption()
	if err != nil {
		t.Fatal(err)
	}
	if line, err := checkHealthWith(ctx, addr, "", creds); err != nil || !strings.Contains(line, "SERVING") {
		t.Fatalf("with TLS: %q %v", line, err)
	}
	if _, err := checkHealth(ctx, addr, ""); !errors.Is(err, errUnhealthy) {
		t.Fatalf("plaintext against a TLS node: %v, want errUnhealthy", err)
	}
	bad := tlsFlags{files: secure.Files{CA: filepath.Join(dir, secure.CAFile)}}
	if _, err := bad.dialOption(); !errors.Is(err, secure.ErrTLSConfig) {
		t.Fatalf("--tls-ca alone: %v, want ErrTLSConfig", err)
	}
}
