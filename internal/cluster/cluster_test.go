package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// fakeState serves one encoded state, optionally damaged.
type fakeState struct {
	asfpb.UnimplementedWorkerStateServer
	held   job.Held
	enc    []byte
	damage func(c *asfpb.StateChunk, i int) *asfpb.StateChunk // nil: send as is; returning nil drops the chunk
}

func (f *fakeState) GetState(req *asfpb.StateRequest, st asfpb.WorkerState_GetStateServer) error {
	job, h, err := StateRequestFrom(req)
	if err != nil {
		return err
	}
	if job != "j" || h != f.held {
		return NotFound(job, h)
	}
	i := 0
	return SendState(f.enc, func(c *asfpb.StateChunk) error {
		if f.damage != nil {
			if c = f.damage(c, i); c == nil {
				i++
				return nil
			}
		}
		i++
		return st.Send(c)
	})
}

func serve(t *testing.T, srv asfpb.WorkerStateServer) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	asfpb.RegisterWorkerStateServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// bigState is a valid state of about 2.4 MB: three chunks on the wire.
func bigState(t *testing.T) *checkpoint.State {
	data := make([]float32, 600_000)
	for i := range data {
		data[i] = float32(i) * 0.5
	}
	return &checkpoint.State{Job: "j", Spec: "10FC", Config: []byte(`{}`), Step: 7, Epoch: 1, StepInEpoch: 2,
		Weights: []checkpoint.Tensor{{Name: "fc.weight", Shape: []int{600, 1000}, Data: data}}, Scales: []float64{1}}
}

func TestStateTransfer(t *testing.T) {
	st := bigState(t)
	enc, err := checkpoint.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	h := job.Held{Step: 7, Digest: sha256.Sum256([]byte("weights"))}
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		ask    job.Held
		damage func(c *asfpb.StateChunk, i int) *asfpb.StateChunk
		want   error
	}{
		{"whole", h, nil, nil},
		{"not held", job.Held{Step: 8, Digest: h.Digest}, nil, ErrNoState},
		{"flipped bit", h, func(c *asfpb.StateChunk, i int) *asfpb.StateChunk {
			if i == 1 {
				d := bytes.Clone(c.Data)
				d[100] ^= 1
				c.Data = d
			}
			return c
		}, ErrTransfer},
		{"missing chunk", h, func(c *asfpb.StateChunk, i int) *asfpb.StateChunk {
			if i == 1 {
				return nil
			}
			return c
		}, ErrTransfer},
		{"truncated", h, func(c *asfpb.StateChunk, i int) *asfpb.StateChunk {
			if i == 2 {
				return nil
			}
			return c
		}, ErrTransfer},
		{"oversized", h, func(c *asfpb.StateChunk, i int) *asfpb.StateChunk {
			if i == 2 {
				c.Data = append(bytes.Clone(c.Data), 0)
			}
			return c
		}, ErrTransfer},
		{"bad header", h, func(c *asfpb.StateChunk, i int) *asfpb.StateChunk {
			if i == 0 {
				c.Sha256 = c.Sha256[:4]
			}
			return c
		}, ErrTransfer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := serve(t, &fakeState{held: h, enc: enc, damage: tc.damage})
			got, raw, err := FetchState(ctx, cc, "j", tc.ask)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				return
			}
			if !bytes.Equal(raw, enc) || got.Step != 7 || len(got.Weights[0].Data) != 600_000 || got.Weights[0].Data[599_999] != st.Weights[0].Data[599_999] {
				t.Fatalf("the state did not arrive intact")
			}
		})
	}
}

func TestHeldWire(t *testing.T) {
	hs := []job.Held{{Step: 3, Digest: sha256.Sum256([]byte("a"))}, {Step: 4, Digest: sha256.Sum256([]byte("b"))}}
	back, err := HeldFromPB(HeldToPB(hs))
	if err != nil || len(back) != 2 || back[0] != hs[0] || back[1] != hs[1] {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if _, err := HeldFromPB([]*asfpb.HeldState{{Step: 1, Digest: []byte{1, 2}}}); !errors.Is(err, ErrWire) || !strings.Contains(err.Error(), "held[0].digest") {
		t.Errorf("short digest: %v", err)
	}
	if _, err := HeldFromPB([]*asfpb.HeldState{{Step: -1, Digest: make([]byte, 32)}}); !errors.Is(err, ErrWire) {
		t.Errorf("negative step: %v", err)
	}
}

func TestMembershipConfigValidate(t *testing.T) {
	if err := DefaultMembershipConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*MembershipConfig)
	}{
		{"BindPort", func(c *MembershipConfig) { c.BindPort = 70000 }},
		{"AdvertisePort", func(c *MembershipConfig) { c.AdvertisePort = -1 }},
		{"ProbeInterval", func(c *MembershipConfig) { c.ProbeInterval = 0 }},
		{"ProbeTimeout", func(c *MembershipConfig) { c.ProbeTimeout = time.Second }},
		{"SuspicionMult", func(c *MembershipConfig) { c.SuspicionMult = 0 }},
		{"GossipInterval", func(c *MembershipConfig) { c.GossipInterval = 0 }},
		{"TCPTimeout", func(c *MembershipConfig) { c.TCPTimeout = 0 }},
		{"SecretKey", func(c *MembershipConfig) { c.SecretKey = []byte("short") }},
		{"BindAddr", func(c *MembershipConfig) { c.BindAddr = "not-an-ip" }},
	} {
		c := DefaultMembershipConfig()
		tc.mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	// 500 ms to be probed, then 2 x 500 ms of suspicion.
	if got := DefaultMembershipConfig().FailureDetectionTime(3); got != 1500*time.Millisecond {
		t.Errorf("FailureDetectionTime(3) = %v, want 1.5s", got)
	}
}

func TestMeta(t *testing.T) {
	m := Meta{Role: RoleWorker, ID: "w1", GRPC: "10.0.0.1:7071", Version: "v1"}
	b, err := m.encode()
	if err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeMeta(b); err != nil || back != m {
		t.Fatalf("round trip %v %v", back, err)
	}
	if _, err := (Meta{ID: strings.Repeat("x", 600)}).encode(); !errors.Is(err, ErrMeta) {
		t.Errorf("oversized meta: %v", err)
	}
	if _, err := DecodeMeta([]byte("{")); !errors.Is(err, ErrMeta) {
		t.Errorf("bad meta: %v", err)
	}
}

// Two members on loopback: the worker finds the coordinator through the
// metadata, and a crash (shutdown without leave) is reported as a leave.
func TestMembership(t *testing.T) {
	cfg := DefaultMembershipConfig().Loopback()
	events := make(chan Event, 16)
	coord, err := StartMembership(cfg, NewNodeName("coordinator"), Meta{Role: RoleCoordinator, ID: "coordinator", GRPC: "127.0.0.1:7070"}, nil,
		func(e Event) { events <- e })
	if err != nil {
		t.Fatal(err)
	}
	defer coord.Shutdown()
	w, err := StartMembership(cfg, NewNodeName("w1"), Meta{Role: RoleWorker, ID: "w1", GRPC: "127.0.0.1:7071"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Join([]string{coord.Addr()}); err != nil {
		t.Fatal(err)
	}
	c, ok := w.Coordinator()
	if !ok || c.Meta.GRPC != "127.0.0.1:7070" || !w.Has(coord.Name()) {
		t.Fatalf("the worker sees %v (%v)", c, ok)
	}
	if err := w.SetMeta(Meta{Role: RoleWorker, ID: "w1", GRPC: "127.0.0.1:9999"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := w.Shutdown(); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Kind == EventLeave && e.Member.Meta.ID == "w1" {
				t.Logf("crash detected after %v", time.Since(start).Round(time.Millisecond))
				return
			}
		case <-timeout:
			t.Fatal("the crash was not detected within 10 s")
		}
	}
}

func TestSetGossipAddrs(t *testing.T) {
	var c MembershipConfig
	if err := c.SetGossipAddrs(":7946", "10.1.2.3:8000"); err != nil || c.BindAddr != "0.0.0.0" || c.BindPort != 7946 || c.AdvertiseAddr != "10.1.2.3" || c.AdvertisePort != 8000 {
		t.Fatalf("%+v %v", c, err)
	}
	if err := c.SetGossipAddrs("7946", ""); err == nil {
		t.Error("a port without a colon was accepted")
	}
}
