package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// The digest is SHA-256 of the weights as little-endian float32 bits, then
// the scales as little-endian float64 bits, whatever path computes it.
func TestDigestEncoding(t *testing.T) {
	n, err := BuildNet(LeNetSpec, Shape{C: 1, H: 28, W: 28}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	m := NewModel(n, 3)
	m.Params[0], m.Params[1] = float32(math.Copysign(0, -1)), float32(math.NaN())
	m.Scales[0] = 0.75
	var buf []byte
	for _, w := range m.Params {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(w))
	}
	for _, s := range m.Scales {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(s))
	}
	if got, want := m.Digest(), sha256.Sum256(buf); got != want {
		t.Fatalf("Digest %x, want SHA-256 of the little-endian encoding %x", got[:8], want[:8])
	}
}

// DecodeResult's gradient is float32(math.Ldexp(float64(a), -GradBits)) bit for
// bit, over the whole int64 range.
func TestDecodeResultExact(t *testing.T) {
	n, err := BuildNet("4FC-10FC", Shape{C: 1, H: 4, W: 4}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	acc := make([]int64, n.ResultLen())
	grad := make([]float32, n.NParams)
	edge := []int64{0, 1, -1, 2, 3, 1 << 31, 1<<32 - 1, 1 << 52, 1<<53 + 1, 1<<62 - 1, -(1 << 62), math.MaxInt64, math.MinInt64}
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		for i := range n.NParams {
			switch {
			case round == 0 && i < len(edge):
				acc[i] = edge[i]
			default:
				acc[i] = int64(r.Uint64()) >> r.IntN(64)
			}
		}
		if _, err := n.DecodeResult(acc, grad); err != nil {
			t.Fatal(err)
		}
		for i, g := range grad {
			if want := float32(math.Ldexp(float64(acc[i]), -GradBits)); math.Float32bits(g) != math.Float32bits(want) {
				t.Fatalf("acc %d: %v, want %v", acc[i], g, want)
			}
		}
	}
}
