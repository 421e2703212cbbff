package checkpoint

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	full := makeState("job-1", 7, 250, 0)
	minimal := &State{Job: "j"}
	utc := makeState("utc", 1, 1, 10)
	utc.Metrics.Time = time.Unix(1700000000, 5).UTC()
	utc.Metrics.HasTest = false
	utc.Metrics.TrainLoss = math.Float64frombits(0x7ff8000000000abc) // NaN payload
	utc.Optimizer.LR = math.Copysign(0, -1)
	for _, tc := range []struct {
		name string
		st   *State
	}{{"lenet", full}, {"minimal", minimal}, {"utc-nan-metrics", utc}} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := EncodeState(tc.st)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeState(enc)
			if err != nil {
				t.Fatal(err)
			}
			want := *tc.st
			want.ConfigDigest = sha256.Sum256(want.Config) // filled in when zero
			if err := diffState(&want, got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDecodeRejectsGarbageWithoutPanic(t *testing.T) {
	enc, err := EncodeState(makeState("j", 1, 3, 10))
	if err != nil {
		t.Fatal(err)
	}
	// Every truncation fails cleanly.
	for n := 0; n < len(enc); n += 1 + n/50 {
		if _, err := DecodeState(enc[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrCorrupt", n, len(enc), err)
		}
	}
	// Trailing bytes fail.
	if _, err := DecodeState(append(enc[:len(enc):len(enc)], 0)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "left over") {
		t.Fatalf("trailing byte: %v", err)
	}
	// A huge tensor count or dimension does not allocate.
	bad := append([]byte(nil), enc...)
	off := 8 + 4 + 4 + len("j") + 4 + len("20C5-P2-50C5-P2-200FC-10FC")
	cfgLen := int(binary.LittleEndian.Uint32(bad[off:]))
	off += 4 + cfgLen + 32 + 8 + 24 // config, digest, seed, counters
	binary.LittleEndian.PutUint32(bad[off:], 0xffffffff)
	if _, err := DecodeState(bad); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cannot fit") {
		t.Fatalf("huge count: %v", err)
	}
}

func TestDecodeVersion(t *testing.T) {
	enc, err := EncodeState(&State{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(enc[8:], 99)
	_, err = DecodeState(enc)
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("err = %v, want ErrVersion", err)
	}
	for _, want := range []string{"version 99 found", "reads version 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := DecodeState([]byte("PNG not a state")); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "magic") {
		t.Fatalf("bad magic: %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := func() *State { return makeState("j", 1, 1, 10) }
	for _, tc := range []struct {
		name string
		mod  func(*State)
		want string
	}{
		{"empty job", func(s *State) { s.Job = "" }, "job id is empty"},
		{"control char", func(s *State) { s.Job = "a\nb" }, "control character"},
		{"negative step", func(s *State) { s.Step = -1 }, "negative counter"},
		{"shape mismatch", func(s *State) { s.Weights[1].Shape[0]++ }, "conv2.weight"},
		{"negative dim", func(s *State) { s.Weights[1].Shape[0] = -50 }, "conv2.weight"},
		{"duplicate", func(s *State) { s.Weights[1].Name = s.Weights[0].Name }, "both named"},
		{"no name", func(s *State) { s.Optimizer.Slots[0].Name = "" }, "has no name"},
		{"digest", func(s *State) { s.ConfigDigest[0] ^= 1 }, "not the sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := good()
			tc.mod(st)
			_, err := EncodeState(st)
			if !errors.Is(err, ErrInvalidState) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidState mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeState: whatever the bytes, DecodeState returns a state or an error,
// and a state it returns encodes and decodes back to itself.
func FuzzDecodeState(f *testing.F) {
	small := makeState("seed", 2, 5, 3)
	small.Weights = small.Weights[len(small.Weights)-1:] // keep seeds small
	small.Optimizer.Slots = []Tensor{{Name: "s.m", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}}}
	for _, st := range []*State{{Job: "j"}, small} {
		enc, err := EncodeState(st)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
		f.Add(enc[:len(enc)/2])
	}
	f.Add([]byte("ASFSTATE\x01\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b)
		if err != nil {
			if st != nil {
				t.Fatal("state and error both returned")
			}
			return
		}
		again, err := EncodeState(st)
		if err != nil {
			t.Fatalf("decoded state does not encode: %v", err)
		}
		st2, err := DecodeState(again)
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if err := diffState(st, st2); err != nil {
			t.Fatalf("re-encoded state differs: %v", err)
		}
	})
}
