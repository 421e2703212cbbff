package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// TestGossipKeyAndLabel: a node without the cluster's key, with another key,
// or with another label cannot join; the refusal is logged by the cluster
// node; a node with the key and label joins.
func TestGossipKeyAndLabel(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	other := bytes.Repeat([]byte{8}, 32)
	base := DefaultMembershipConfig().Loopback()
	base.TCPTimeout = 500 * time.Millisecond
	var logs syncBuf
	cfg := base
	cfg.SecretKey, cfg.Label = key, "asf-test"
	coord, err := StartMembership(cfg, NewNodeName("coordinator"), Meta{Role: RoleCoordinator, ID: "coordinator", GRPC: "127.0.0.1:7070"},
		slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer coord.Shutdown()

	for _, tc := range []struct {
		name  string
		key   []byte
		label string
		ok    bool
	}{
		{"no key", nil, "asf-test", false},
		{"another key", other, "asf-test", false},
		{"another label", key, "other-cluster", false},
		{"no label", key, "", false},
		{"key and label", key, "asf-test", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.SecretKey, c.Label = tc.key, tc.label
			name := NewNodeName("w")
			w, err := StartMembership(c, name, Meta{Role: RoleWorker, ID: "w", GRPC: "127.0.0.1:7071"}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Shutdown()
			err = w.Join([]string{coord.Addr()})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(5 * time.Second)
				for !coord.Has(name) {
					if time.Now().After(deadline) {
						t.Fatal("the coordinator never saw the worker")
					}
					time.Sleep(20 * time.Millisecond)
				}
				return
			}
			if err == nil {
				t.Fatal("joined")
			}
			// Probes and gossip of the refused node go on for a while: it stays out.
			time.Sleep(2 * base.ProbeInterval)
			if coord.Has(name) {
				t.Fatal("the coordinator lists the refused node")
			}
		})
	}
	if !strings.Contains(logs.String(), RefusedGossip) {
		t.Fatalf("the coordinator did not log a refusal:\n%s", logs.String())
	}
}
