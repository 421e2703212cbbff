package clustertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/secure"
	"github.com/asfnet/asf/worker"
)

// syncLog is a goroutine-safe log sink.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// secureFiles are the security settings of one node made by `asf certs
// init` into dir.
func secureFiles(t *testing.T, dir string, r secure.Role) secure.Settings {
	t.Helper()
	s, err := secure.Flags{
		TLS:           secure.Files{CA: filepath.Join(dir, secure.CAFile), Cert: filepath.Join(dir, secure.CertFile(r)), Key: filepath.Join(dir, secure.KeyFile(r))},
		GossipKeyFile: filepath.Join(dir, secure.GossipKeyFile),
		TokenFile:     filepath.Join(dir, secure.TokenFile),
		Label:         "asf-secure-test",
	}.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSecureClusterRefusesIntruders runs a cluster with mutual TLS, gossip
// encryption, a cluster label and a join token, over loopback. While it
// trains, four intruders try to join: one without a certificate (plaintext),
// one with a certificate of another CA, one with a wrong join token and one
// with a wrong gossip key. Each is refused with its reason in the log, none
// ever enters a ring, the token intruder gives up, and the cluster trains to
// the same weights as the engine alone.
func TestSecureClusterRefusesIntruders(t *testing.T) {
	want, _, dataDir := reference(t)
	dir, other := filepath.Join(t.TempDir(), "certs"), filepath.Join(t.TempDir(), "other")
	for _, d := range []string{dir, other} {
		if err := secure.Init(d, secure.DefaultInitConfig()); err != nil {
			t.Fatal(err)
		}
	}
	coordSec, workerSec, otherSec := secureFiles(t, dir, secure.RoleCoordinator), secureFiles(t, dir, secure.RoleWorker), secureFiles(t, other, secure.RoleWorker)

	var logs syncLog
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if l := testLogger(t); l != nil {
		log = l
		t.Log("ASF_TEST_LOG set: the log assertions below read nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The refusals the coordinator must log while the cluster trains.
	reasons := []string{
		"refused a gRPC connection",           // the plaintext intruder
		"bad certificate",                     // the intruder of another CA (it also refuses the coordinator's certificate)
		"wrong join token",                    // the token intruder
		cluster.RefusedGossip,                 // the gossip intruder
		"the coordinator refused this worker", // the token intruder, giving up
	}
	logged := func() []string {
		var missing []string
		s := logs.String()
		for _, r := range reasons {
			if !strings.Contains(s, r) {
				missing = append(missing, r)
			}
		}
		return missing
	}

	cfg := coordinator.DefaultConfig(SmallJob())
	cfg.DataDir = dataDir
	cfg.StorePath = filepath.Join(t.TempDir(), "asf.db")
	cfg.StartWorkers, cfg.MinWorkers = 2, 1
	cfg.NoTest = true
	cfg.StepDeadline = 10 * time.Second
	cfg.FinishGrace = time.Second
	cfg.TLS, cfg.JoinToken = coordSec.TLS, coordSec.Token
	cfg.Gossip.SecretKey, cfg.Gossip.Label = coordSec.GossipKey, coordSec.Label
	var rings [][]string
	var ringMu sync.Mutex
	var once sync.Once
	cfg.Hooks.AfterCommit = func(steps int, ring []string) {
		ringMu.Lock()
		rings = append(rings, ring)
		ringMu.Unlock()
		// Hold the first step until every refusal happened: they happen while
		// the cluster trains.
		once.Do(func() {
			deadline := time.Now().Add(20 * time.Second)
			for len(logged()) > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	goodWorker := func(i int) worker.Config {
		wc := worker.DefaultConfig()
		wc.ID = fmt.Sprintf("w%d", i)
		wc.Threads = 1
		wc.TLS, wc.JoinToken = workerSec.TLS, workerSec.Token
		wc.Gossip.SecretKey, wc.Gossip.Label = workerSec.GossipKey, workerSec.Label
		return wc
	}
	cl, err := inproc.Start(ctx, inproc.Config{Coordinator: cfg, Workers: 2, Logger: log, Worker: goodWorker})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Stop()

	intruders := map[string]func(*worker.Config){
		"plaintext": func(c *worker.Config) { c.TLS = nil },
		"other-ca":  func(c *worker.Config) { c.TLS = otherSec.TLS },
		"token":     func(c *worker.Config) { c.JoinToken = "not-the-token" },
		"gossip":    func(c *worker.Config) { c.Gossip.SecretKey = otherSec.GossipKey },
	}
	ictx, icancel := context.WithCancel(ctx)
	defer icancel()
	errs := map[string]error{}
	var wg sync.WaitGroup
	var emu sync.Mutex
	for name, spoil := range intruders {
		wc := goodWorker(0)
		wc.ID = "intruder-" + name
		wc = wc.Loopback()
		wc.Join = []string{cl.Coordinator().GossipAddr()}
		wc.Data = inproc.SharedData(dataDir)
		wc.Logger = log.With("intruder", name)
		wc.RetryMax = 200 * time.Millisecond
		spoil(&wc)
		w, err := worker.New(wc)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := w.Run(ictx)
			emu.Lock()
			errs[name] = err
			emu.Unlock()
		}()
	}

	res, err := cl.Run()
	icancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Final.Digest != want {
		t.Fatalf("weights %x, want the engine's %x", res.Final.Digest[:6], want[:6])
	}
	if m := logged(); len(m) > 0 {
		t.Fatalf("the log lacks %q:\n%s", m, logs.String())
	}
	for _, r := range rings {
		for _, id := range r {
			if strings.HasPrefix(id, "intruder") {
				t.Fatalf("intruder %s was in a ring %v", id, r)
			}
		}
	}
	if !errors.Is(errs["token"], worker.ErrRefused) {
		t.Errorf("token intruder: %v, want ErrRefused", errs["token"])
	}
	for _, name := range []string{"plaintext", "other-ca", "gossip"} {
		if !errors.Is(errs[name], context.Canceled) {
			t.Errorf("intruder %s: %v, want it still trying until cancelled", name, errs[name])
		}
	}
}
