package allreduce

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// packedValues returns n values of the widths a gradient has: runs of zeros,
// small and large magnitudes of both signs, and the int64 extremes.
func packedValues(rng *rand.Rand, n int) []int64 {
	vs := make([]int64, n)
	for i := range vs {
		switch rng.IntN(6) {
		case 0:
			vs[i] = 0
		case 1:
			vs[i] = -1
		case 2:
			vs[i] = rng.Int64N(1<<31) - 1<<30
		case 3:
			vs[i] = int64(rng.Uint64()) >> rng.IntN(64)
		case 4:
			vs[i] = []int64{math.MinInt64, math.MaxInt64, 127, -128, 128, -129}[rng.IntN(6)]
		default:
			vs[i] = rng.Int64N(1 << 40)
		}
	}
	// A long run of zeros, as blocks of a layer without gradient.
	if n > 100 {
		clear(vs[n/3 : n/3+50])
	}
	return vs
}

func TestPackedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := Packed.(varCodec[int64])
	for _, n := range []int{0, 1, 15, 16, 17, 100, 1000} {
		src := packedValues(rng, n)
		wire := make([]byte, c.MaxLen(n))
		k := c.EncodeVar(wire, src)
		dst := make([]int64, n)
		if err := c.DecodeVar(dst, wire[:k]); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !slices.Equal(dst, src) {
			t.Fatalf("n=%d: decoded %v, want %v", n, dst, src)
		}
	}
	// Zeros cost a byte per block; small values one byte each.
	wire := make([]byte, c.MaxLen(64))
	if k := c.EncodeVar(wire, make([]int64, 64)); k != 4 {
		t.Errorf("64 zeros: %d bytes, want 4 (four width bytes)", k)
	}
	small := make([]int64, 32)
	for i := range small {
		small[i] = int64(i) - 16
	}
	if k := c.EncodeVar(wire, small); k != 2+32 {
		t.Errorf("32 values in [-16, 16): %d bytes, want 34", k)
	}
}

func TestPackedAccumulate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	c := Packed.(varCodec[int64])
	n := 333
	a := packedValues(rng, n)
	b := packedValues(rng, n)
	for i := range a { // keep the sums inside int64
		a[i] >>= 2
		b[i] >>= 2
	}
	in := make([]byte, c.MaxLen(n))
	k := c.EncodeVar(in, b)
	acc := slices.Clone(a)
	out := make([]byte, c.MaxLen(n))
	m, err := c.AccumulateVar(acc, in[:k], out)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]int64, n)
	if err := c.DecodeVar(got, out[:m]); err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if acc[i] != a[i]+b[i] || got[i] != acc[i] {
			t.Fatalf("element %d: acc %d, forwarded %d, want %d", i, acc[i], got[i], a[i]+b[i])
		}
	}
	// Overflow is refused, not wrapped.
	big := []int64{math.MaxInt64}
	k = c.EncodeVar(in, []int64{1})
	if _, err := c.AccumulateVar(big, in[:k], out); !errors.Is(err, ErrOverflow) {
		t.Fatalf("MaxInt64 + 1: %v, want ErrOverflow", err)
	}
}

func TestPackedMalformed(t *testing.T) {
	c := Packed.(varCodec[int64])
	dst := make([]int64, 20)
	for _, tc := range []struct {
		name string
		wire []byte
	}{
		{"empty", nil},
		{"width 9", append([]byte{9}, make([]byte, 200)...)},
		{"truncated block", []byte{2, 1, 2, 3}},
		{"missing second block", append([]byte{0}, 0)[:1]},
		{"trailing bytes", []byte{0, 0, 7}},
	} {
		if err := c.DecodeVar(dst, tc.wire); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v, want ErrMismatch", tc.name, err)
		}
	}
}

// TestAllReducePacked checks that the packed ring gives exactly the int64 sum
// on rings of 2..5 peers (in memory and over gRPC), with fewer bytes sent for
// values that need fewer.
func TestAllReducePacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ctx := context.Background()
	for _, w := range []int{2, 3, 5} {
		for _, n := range []int{1, 7, 1000, 20000} {
			bufs := make([][]int64, w)
			want := make([]int64, n)
			for r := range bufs {
				bufs[r] = make([]int64, n)
				for i := range bufs[r] {
					bufs[r][i] = rng.Int64N(1<<32) - 1<<31
					if rng.IntN(3) == 0 {
						bufs[r][i] = 0
					}
					want[i] += bufs[r][i]
				}
			}
			ts := memRing(w)
			cfgs := ringConfigs(w, 1024, 1, 1)
			sent := make([]int64, w)
			errs := make([]error, w)
			done := make(chan int)
			for r := range w {
				go func() {
					sent[r], errs[r] = AllReduceSent(ctx, ts[r], cfgs[r], Packed, bufs[r])
					done <- r
				}()
			}
			for range w {
				<-done
			}
			for r := range w {
				if errs[r] != nil {
					t.Fatalf("W=%d n=%d rank %d: %v", w, n, r, errs[r])
				}
				if !slices.Equal(bufs[r], want) {
					t.Fatalf("W=%d n=%d rank %d: the packed sum differs from the int64 sum", w, n, r)
				}
				if full := int64(2*(w-1)) * int64(n) * 8 / int64(w); n >= 1000 && sent[r] >= full*3/4 {
					t.Errorf("W=%d n=%d rank %d sent %d bytes, the int64 codec %d: want far fewer for 33-bit values", w, n, r, sent[r], full)
				}
			}
		}
	}
	peers := startGRPCPeers(t, 3)
	defer func() {
		for _, p := range peers {
			p.stop()
		}
	}()
	ts := grpcRing(t, peers, identity(3))
	cfgs := ringConfigs(3, 4096, 1, 1)
	bufs := make([][]int64, 3)
	want := make([]int64, 5000)
	for r := range bufs {
		bufs[r] = packedValues(rng, 5000)
		for i := range bufs[r] {
			bufs[r][i] >>= 3
			want[i] += bufs[r][i]
		}
	}
	for r, err := range reduceAll(ctx, ts, cfgs, Packed, bufs) {
		if err != nil {
			t.Fatalf("gRPC rank %d: %v", r, err)
		}
		if !slices.Equal(bufs[r], want) {
			t.Fatalf("gRPC rank %d: the packed sum differs from the int64 sum", r)
		}
	}
}

// lenetLike returns n values distributed like a LeNet gradient sum at 2^32:
// 36% zeros in runs, the rest mostly 4 bytes wide, some 2..5.
func lenetLike(n int) []int64 {
	rng := rand.New(rand.NewPCG(7, 8))
	vs := make([]int64, n)
	for i := 0; i < n; {
		run := 1 + rng.IntN(40)
		zero := rng.IntN(100) < 36
		for j := 0; j < run && i < n; j, i = j+1, i+1 {
			if !zero {
				vs[i] = int64(rng.NormFloat64() * float64(int64(1)<<(22+rng.IntN(10))))
			}
		}
	}
	return vs
}

func BenchmarkPackedAccumulate(b *testing.B) {
	c := Packed.(varCodec[int64])
	const n = 1 << 17
	src, acc := lenetLike(n), lenetLike(n)
	in := make([]byte, c.MaxLen(n))
	k := c.EncodeVar(in, src)
	out := make([]byte, c.MaxLen(n))
	work := make([]int64, n)
	b.SetBytes(8 * n)
	for b.Loop() {
		copy(work, acc)
		if _, err := c.AccumulateVar(work, in[:k], out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInt64AccumulateLeNetLike(b *testing.B) {
	const n = 1 << 17
	src, acc := lenetLike(n), lenetLike(n)
	in := make([]byte, 8*n)
	Int64.Encode(in, src)
	work := make([]int64, n)
	wire := make([]byte, 8*n)
	b.SetBytes(8 * n)
	for b.Loop() {
		copy(work, acc)
		copy(wire, in)
		if err := Int64.Accumulate(work, wire); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPackedAccumulateTwoPass is the unfused form (decode-add, then
// encode): the baseline of AccumulateVar's single pass.
func BenchmarkPackedAccumulateTwoPass(b *testing.B) {
	c := packedCodec{}
	const n = 1 << 17
	src, acc := lenetLike(n), lenetLike(n)
	in := make([]byte, c.MaxLen(n))
	k := c.EncodeVar(in, src)
	out := make([]byte, c.MaxLen(n))
	work := make([]int64, n)
	b.SetBytes(8 * n)
	for b.Loop() {
		copy(work, acc)
		if err := c.walk(work, in[:k], true); err != nil {
			b.Fatal(err)
		}
		c.EncodeVar(out, work)
	}
}

// FuzzPackedDecode feeds arbitrary bytes to the packed decoder and
// accumulator: they must fail with ErrMismatch (or ErrOverflow) or decode,
// never panic, and what decodes must re-encode to a chunk that decodes the
// same.
func FuzzPackedDecode(f *testing.F) {
	c := packedCodec{}
	good := make([]byte, c.MaxLen(20))
	k := c.EncodeVar(good, packedValues(rand.New(rand.NewPCG(9, 9)), 20))
	f.Add(good[:k], uint8(20))
	f.Add([]byte{0, 0}, uint8(17))
	f.Add([]byte{8, 1, 2, 3, 4, 5, 6, 7, 8}, uint8(1))
	f.Fuzz(func(t *testing.T, wire []byte, n uint8) {
		dst := make([]int64, n)
		err := c.DecodeVar(dst, wire)
		if err != nil {
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("DecodeVar: %v, want ErrMismatch", err)
			}
		} else {
			again := make([]byte, c.MaxLen(int(n)))
			m := c.EncodeVar(again, dst)
			back := make([]int64, n)
			if err := c.DecodeVar(back, again[:m]); err != nil || !slices.Equal(back, dst) {
				t.Fatalf("re-encoded chunk decodes to %v, %v; want %v", back, err, dst)
			}
		}
		acc := make([]int64, n)
		out := make([]byte, c.MaxLen(int(n)))
		if _, err := c.AccumulateVar(acc, wire, out); err != nil && !errors.Is(err, ErrMismatch) && !errors.Is(err, ErrOverflow) {
			t.Fatalf("AccumulateVar: %v", err)
		}
	})
}
