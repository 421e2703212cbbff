package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/worker"
)

// A worker whose --join address is wrong says what is there at WARN (nothing
// listening; something that is not a gossip endpoint, such as an HTTP server)
// and gives up with ErrJoin after Config.JoinWait instead of retrying for ever.
func TestJoinWrongAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("dashboard")) }))
	defer web.Close()
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"nothing listening", closed, "nothing listening at " + closed},
		{"an HTTP server", web.Listener.Addr().String(), web.Listener.Addr().String() + " is not an asf gossip endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuf{}
			wc := worker.DefaultConfig().Loopback()
			wc.ID, wc.Join, wc.JoinWait = "w0", []string{tc.addr}, 800*time.Millisecond
			wc.RetryMax = 200 * time.Millisecond
			wc.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			w, err := worker.New(wc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err = w.Run(ctx)
			if !errors.Is(err, worker.ErrJoin) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want ErrJoin saying %q", err, tc.want)
			}
			out := logs.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, tc.want) {
				t.Fatalf("the log does not say %q at WARN:\n%s", tc.want, out)
			}
			if n := strings.Count(out, "cannot join the cluster's gossip"); n != 1 {
				t.Errorf("%d WARN lines for the same problem within the wait, want 1:\n%s", n, out)
			}
		})
	}
}
