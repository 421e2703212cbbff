package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/clustertest"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/local"
	"github.com/asfnet/asf/worker"
)

// syncBuf is a log sink shared by goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLog returns a logger to stderr when ASF_TEST_LOG is set (a level), else
// one that discards.
func testLog(t *testing.T) *slog.Logger {
	lv := os.Getenv("ASF_TEST_LOG")
	if lv == "" {
		return slog.New(slog.DiscardHandler)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(lv)); err != nil {
		t.Fatalf("ASF_TEST_LOG=%q: %v", lv, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// freePort returns a port free for TCP and UDP on every interface.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("0.0.0.0:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

// A worker whose address changes while it runs (a docker reconnect, a DHCP
// lease) advertises the new one: its resolver answers 127.0.0.2, then
// 127.0.0.3 from step flipAt on (on Linux all of 127.0.0.0/8 is loopback; the
// worker listens on 0.0.0.0, so both reach it). The coordinator must end up
// with its new gRPC address, the worker must be in the ring at that address
// for the last steps, and the weights must be those of an uninterrupted run.
func TestWorkerReadvertisesAChangedAddress(t *testing.T) {
	const (
		oldIP, newIP = "127.0.0.2", "127.0.0.3"
		flipAt       = 4                      // steps committed when the address changes
		pace         = 150 * time.Millisecond // hold after each commit until the worker is back (steps take milliseconds)
	)
	for _, ip := range []string{oldIP, newIP} {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatalf("this test needs %s on the loopback interface (Linux has all of 127.0.0.0/8): %v", ip, err)
		}
		l.Close()
	}
	dir := t.TempDir()
	j := clustertest.SmallJob()
	ref, err := local.Run(context.Background(), j, local.Options{DataDir: dir, Threads: 2, NoTest: true})
	if err != nil {
		t.Fatal(err)
	}
	want := ref.Model.Digest()
	log := testLog(t)
	data := inproc.SharedData(dir)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var (
		moved    atomic.Bool
		co       *coordinator.Coordinator
		mu       sync.Mutex
		backAt   = -1     // steps committed when w2 was first seen in a ring at its new address
		seenAddr []string // w2's address as the coordinator published it, after the change
	)
	cc := coordinator.DefaultConfig(j).Loopback()
	cc.DataDir, cc.StorePath, cc.Data, cc.Logger = dir, t.TempDir()+"/asf.db", data, log
	cc.StartWorkers, cc.NoTest = 3, true
	cc.StepDeadline, cc.Settle, cc.FinishGrace = 10*time.Second, time.Second, time.Second
	cc.Hooks.AfterCommit = func(steps int, ring []string) {
		if steps == flipAt {
			moved.Store(true)
		}
		if !moved.Load() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if backAt >= 0 {
			return
		}
		var addr string
		for _, m := range co.Observe().Members {
			if m.ID == "w2" {
				addr = m.Addr
			}
		}
		seenAddr = append(seenAddr, addr)
		if host, _, _ := net.SplitHostPort(addr); host == newIP && strings.Contains(","+strings.Join(ring, ",")+",", ",w2,") {
			backAt = steps
			return
		}
		time.Sleep(pace)
	}
	co, err = coordinator.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	w2log := &syncBuf{}
	var workers []*worker.Worker
	for i := range 3 {
		wc := worker.DefaultConfig().Loopback()
		wc.ID = fmt.Sprintf("w%d", i)
		wc.Threads, wc.RetryMax = 1, 500*time.Millisecond
		wc.Join, wc.Data, wc.DataDir, wc.Logger = []string{co.GossipAddr()}, data, dir, log
		if i == 2 {
			// Listens and gossips on every interface with an auto-detected
			// advertise address, looked up through the test's resolver.
			wc.Listen = "0.0.0.0:0"
			// A fixed gossip port, as in a deployment: the new member binds
			// the port the old one left.
			wc.Gossip.BindAddr, wc.Gossip.BindPort = "0.0.0.0", freePort(t)
			wc.ReresolveEvery = 100 * time.Millisecond
			wc.Resolver = func() (string, error) {
				if moved.Load() {
					return newIP, nil
				}
				return oldIP, nil
			}
			wc.Logger = slog.New(slog.NewTextHandler(w2log, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
		w, err := worker.New(wc)
		if err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	w2 := workers[2]
	oldAddr := w2.Addr()
	if host, _, _ := net.SplitHostPort(oldAddr); host != oldIP {
		t.Fatalf("w2 advertises %s at start, want the resolver's %s", oldAddr, oldIP)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.Run(ctx)
		}()
	}
	res, err := co.Run(ctx)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker w%d: %v", i, err)
		}
	}

	logs := w2log.String()
	if !strings.Contains(logs, "address changed") || !strings.Contains(logs, "old="+oldIP) || !strings.Contains(logs, "new="+newIP) {
		t.Errorf("w2 did not log the change from %s to %s; its log:\n%s", oldIP, newIP, logs)
	}
	_, port, _ := net.SplitHostPort(oldAddr)
	wantAddr := net.JoinHostPort(newIP, port)
	if got := w2.Addr(); got != wantAddr {
		t.Errorf("w2 advertises %s at the end, want %s", got, wantAddr)
	}
	mu.Lock()
	back, seen := backAt, seenAddr
	mu.Unlock()
	if back < 0 || seen[len(seen)-1] != wantAddr {
		t.Fatalf("the coordinator never had w2 in a ring at %s; its address after the change, commit by commit: %v", wantAddr, seen)
	}
	rings := make([][]string, len(res.Ledger))
	for i, r := range res.Ledger {
		rings[i] = r.Workers
	}
	in := clustertest.InRing(rings, "w2")
	t.Logf("w2 in the ring per step: %s; back at %s after %d steps", in, wantAddr, back)
	if back > len(in)-2 {
		t.Errorf("w2 was back in the ring only after %d of %d steps: %s", back, len(in), in)
	} else if tail := in[back-1:]; strings.Contains(tail, "-") || strings.Contains(tail, "?") {
		t.Errorf("w2 is not in the ring for every step from %d on: %s", back, in)
	}
	if res.Final.Digest != want {
		t.Fatalf("final digest %x, the uninterrupted run gives %x", res.Final.Digest[:8], want[:8])
	}
	if err := clustertest.CheckAccounting(res, j, ref.Train.Len()); err != nil {
		t.Fatal(err)
	}
}
