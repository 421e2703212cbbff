package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/worker"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// With --linger the coordinator stays up once the job is done, /healthz
// answering, and returns when its context ends; without it, it returns.
func TestLinger(t *testing.T) {
	for _, linger := range []bool{true, false} {
		t.Run("linger="+strconv.FormatBool(linger), func(t *testing.T) {
			dir := t.TempDir()
			grpcAddr, httpAddr := freeAddr(t), freeAddr(t)
			gossip := freeAddr(t)
			args := []string{"--dataset", "synthetic", "--spec", "4C3-P2-10FC", "-T", "4", "--epochs", "1",
				"--batch", "16", "--micro-batch", "8", "--train-size", "32", "--test-size", "16", "--id", "linger-test",
				"--data-dir", dir, "--listen", grpcAddr, "--gossip-bind", gossip, "--http", httpAddr,
				"--start-workers", "1", "--log-level", "warn"}
			if linger {
				args = append(args, "--linger")
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- run(ctx, args) }()

			wc := worker.DefaultConfig().Loopback()
			wc.ID, wc.Coordinator, wc.DataDir, wc.Threads = "w0", grpcAddr, dir, 1
			var w *worker.Worker
			var err error
			for range 100 { // the coordinator may still be starting
				if w, err = worker.New(wc); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Run(ctx); err != nil {
				t.Fatalf("worker: %v", err)
			}
			if !linger {
				if err := <-done; err != nil {
					t.Fatalf("run: %v", err)
				}
				return
			}
			// The job is done: the coordinator still serves /healthz.
			var body string
			for range 100 {
				resp, err := http.Get("http://" + httpAddr + "/healthz")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if body = string(b); resp.StatusCode == http.StatusOK {
						break
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !strings.HasPrefix(body, "ok") {
				t.Fatalf("/healthz after the job: %q", body)
			}
			select {
			case err := <-done:
				t.Fatalf("run returned (%v) with --linger before its context ended", err)
			case <-time.After(300 * time.Millisecond):
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("run after the context ended: %v", err)
			}
		})
	}
}
