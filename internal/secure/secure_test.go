package secure

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// initDir runs Init into a fresh directory.
func initDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "certs")
	if err := Init(dir, DefaultInitConfig()); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t *testing.T, dir string, r Role) *TLS {
	t.Helper()
	s, err := Load(Files{CA: filepath.Join(dir, CAFile), Cert: filepath.Join(dir, CertFile(r)), Key: filepath.Join(dir, KeyFile(r))})
	if err != nil {
		t.Fatal(err)
	}
	if s.Role() != r {
		t.Fatalf("role %q, want %q", s.Role(), r)
	}
	return s
}

func TestInit(t *testing.T) {
	dir := initDir(t)
	for _, f := range InitFiles() {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if strings.HasSuffix(f, ".crt") {
			want = 0o644
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f, fi.Mode().Perm(), want)
		}
	}
	for _, r := range Roles {
		load(t, dir, r)
	}
	b, err := os.ReadFile(filepath.Join(dir, GossipKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseGossipKey(b, GossipKeyFile); err != nil {
		t.Fatal(err)
	}
	// A second Init into the same directory refuses and changes nothing.
	before, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if err := Init(dir, DefaultInitConfig()); !errors.Is(err, ErrExists) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if !bytes.Equal(before, after) {
		t.Fatal("the second Init changed ca.crt")
	}
	// One existing file is enough to refuse, and nothing is written.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, TokenFile), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Init(dir2, DefaultInitConfig()); !errors.Is(err, ErrExists) {
		t.Fatalf("Init over join.token: %v, want ErrExists", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, CAFile)); err == nil {
		t.Fatal("Init wrote ca.crt although it refused")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := initDir(t)
	other := initDir(t)
	p := func(d, f string) string { return filepath.Join(d, f) }
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    Files
		want string
	}{
		{"no key", Files{CA: p(dir, CAFile), Cert: p(dir, "worker.crt")}, "--tls-key not set"},
		{"no CA", Files{Cert: p(dir, "worker.crt"), Key: p(dir, "worker.key")}, "--tls-ca not set"},
		{"missing CA file", Files{CA: p(dir, "nope.crt"), Cert: p(dir, "worker.crt"), Key: p(dir, "worker.key")}, "no such file"},
		{"CA not PEM", Files{CA: garbage, Cert: p(dir, "worker.crt"), Key: p(dir, "worker.key")}, "no PEM certificate"},
		{"key of another cert", Files{CA: p(dir, CAFile), Cert: p(dir, "worker.crt"), Key: p(dir, "client.key")}, "private key does not match"},
		{"cert of another CA", Files{CA: p(dir, CAFile), Cert: p(other, "worker.crt"), Key: p(other, "worker.key")}, "not signed by the cluster CA"},
		{"CA cert without role", Files{CA: p(dir, CAFile), Cert: p(dir, CAFile), Key: p(dir, CAKeyFile)}, "has no asf role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.f)
			if !errors.Is(err, ErrTLSConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrTLSConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestParseGossipKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xa5}, GossipKeyLen)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"base64", []byte(base64.StdEncoding.EncodeToString(raw)), true},
		{"base64 with newline", []byte(base64.StdEncoding.EncodeToString(raw) + "\n"), true},
		{"raw url base64", []byte(base64.RawURLEncoding.EncodeToString(raw)), true},
		{"raw bytes", raw, true},
		{"16 bytes base64", []byte(base64.StdEncoding.EncodeToString(raw[:16])), false},
		{"31 raw bytes", raw[:31], false},
		{"empty", nil, false},
		{"text", []byte("correct horse battery staple"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseGossipKey(tc.in, "test")
			if tc.ok {
				if err != nil || !bytes.Equal(k, raw) {
					t.Fatalf("got %x, %v; want %x", k, err, raw)
				}
				return
			}
			if !errors.Is(err, ErrGossipKey) || !strings.Contains(err.Error(), "test holds") {
				t.Fatalf("got %v, want ErrGossipKey naming the source", err)
			}
		})
	}
}

func TestFlagsLoad(t *testing.T) {
	dir := initDir(t)
	s, err := Flags{TLS: Files{CA: filepath.Join(dir, CAFile), Cert: filepath.Join(dir, "worker.crt"), Key: filepath.Join(dir, "worker.key")},
		GossipKeyFile: filepath.Join(dir, GossipKeyFile), TokenFile: filepath.Join(dir, TokenFile), Label: "c1"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.TLS == nil || len(s.GossipKey) != GossipKeyLen || len(s.Token) != 64 || s.Label != "c1" || len(s.Warnings()) != 0 {
		t.Fatalf("settings %+v, warnings %q", s, s.Warnings())
	}
	if s, err := (Flags{}).Load(); err != nil || s.TLS != nil || len(s.Warnings()) != 2 {
		t.Fatalf("no flags: %+v %v, warnings %q", s, err, s.Warnings())
	}
	if _, err := (Flags{Token: "a", TokenFile: "b"}).Load(); !errors.Is(err, ErrToken) {
		t.Fatalf("token and token file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := (Flags{TokenFile: empty}).Load(); !errors.Is(err, ErrToken) {
		t.Fatalf("empty token file: %v", err)
	}
	if _, err := (Flags{GossipKey: "c2hvcnQ="}).Load(); !errors.Is(err, ErrGossipKey) {
		t.Fatalf("short gossip key: %v", err)
	}
}

func TestTokenEqual(t *testing.T) {
	if !TokenEqual("abc", "abc") || TokenEqual("abc", "abd") || TokenEqual("", "abc") || TokenEqual("abc", "abcd") {
		t.Fatal("TokenEqual is wrong")
	}
}

// logBuf is a goroutine-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve starts a gRPC health server with srv's credentials accepting roles.
func serve(t *testing.T, srv *TLS, log *slog.Logger, accept ...Role) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(srv.ServerOption(log, accept...))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

func check(addr string, opt grpc.DialOption) error {
	cc, err := grpc.NewClient(addr, opt)
	if err != nil {
		return err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// TestHandshake connects clients of every kind to a coordinator-like server
// that accepts workers and clients, over real TLS on loopback.
func TestHandshake(t *testing.T) {
	dir, other := initDir(t), initDir(t)
	coord := load(t, dir, RoleCoordinator)
	var logs logBuf
	addr := serve(t, coord, slog.New(slog.NewTextHandler(&logs, nil)), RoleWorker, RoleClient)

	noCert := coord.ClientConfig(RoleCoordinator)
	noCert.Certificates = nil
	// A client of another CA that trusts any server, so that the refusal is
	// the server's.
	foreign := load(t, other, RoleWorker).ClientConfig()
	foreign.VerifyConnection = nil
	for _, tc := range []struct {
		name   string
		opt    grpc.DialOption
		reason string // "" = accepted; else in the server's log
	}{
		{"worker", load(t, dir, RoleWorker).DialOption(RoleCoordinator), ""},
		{"client", load(t, dir, RoleClient).DialOption(), ""},
		{"no client certificate", grpc.WithTransportCredentials(credentials.NewTLS(noCert)), "presented no certificate"},
		{"certificate of another CA", grpc.WithTransportCredentials(credentials.NewTLS(foreign)), "not signed by the cluster CA"},
		{"coordinator role not accepted", coord.DialOption(RoleCoordinator), "role is not accepted"},
		{"plaintext", grpc.WithTransportCredentials(insecure.NewCredentials()), "refused a gRPC connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(logs.String())
			err := check(addr, tc.opt)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			// The server logs the refusal as the handshake fails, before or just
			// after the client sees it.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String()[before:], tc.reason) {
				if time.Now().After(deadline) {
					t.Fatalf("server log lacks %q:\n%s", tc.reason, logs.String()[before:])
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestClientChecksServer: a client refuses a server of another CA or of a
// role it does not want.
func TestClientChecksServer(t *testing.T) {
	dir, other := initDir(t), initDir(t)
	worker := load(t, dir, RoleWorker)
	for _, tc := range []struct {
		name string
		srv  *TLS
		want Role
		ok   bool
	}{
		{"coordinator", load(t, dir, RoleCoordinator), RoleCoordinator, true},
		{"impostor of another CA", load(t, other, RoleCoordinator), RoleCoordinator, false},
		{"worker posing as coordinator", load(t, dir, RoleWorker), RoleCoordinator, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serve(t, tc.srv, nil)
			err := check(addr, worker.DialOption(tc.want))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// TLS 1.3 only.
	c := worker.ClientConfig()
	if c.MinVersion != tls.VersionTLS13 {
		t.Fatalf("MinVersion %x", c.MinVersion)
	}
}
