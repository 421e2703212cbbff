package detmath

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"
)

// funcs lists the functions with the standard library's counterpart.
var funcs = []struct {
	name      string
	f, std    func(float64) float64
	args      func(*rand.Rand) float64
	tolerance float64 // in ulps of the result, against the standard library
}{
	{"Log", Log, stdLog, logArg, 2},
	{"Exp", Exp, math.Exp, expArg, 3},
	{"Sin", Sin, math.Sin, trigArg, 2},
	{"Cos", Cos, math.Cos, trigArg, 2},
}

// stdLog is math.Log, which on amd64 (assembly) is far off for subnormal
// arguments: those are scaled into the normal range first.
func stdLog(x float64) float64 {
	if x > 0 && x < 0x1p-1022 {
		return math.Log(x*0x1p60) - 60*math.Ln2
	}
	return math.Log(x)
}

// logArg draws positive arguments: the uniforms in (0, 1] of the Box-Muller
// transform half of the time, else any positive float64 (subnormals too).
func logArg(r *rand.Rand) float64 {
	if r.IntN(2) == 0 {
		return (float64(r.Uint32()) + 1) / (1 << 32)
	}
	return math.Float64frombits(r.Uint64() >> 1)
}

// expArg draws arguments over the whole range where Exp is finite and
// nonzero, with many small ones (softmax arguments are <= 0).
func expArg(r *rand.Rand) float64 {
	switch r.IntN(3) {
	case 0:
		return -745 + float64(1455*r.Float64()) // the conversion keeps the argument unfused too
	case 1:
		return -30 * r.Float64()
	}
	return math.Ldexp(r.Float64()-0.5, -r.IntN(40))
}

// trigArg draws the Box-Muller angles 2*Pi*u half of the time, else
// arguments of any magnitude and sign (the large ones take the Payne-Hanek
// reduction).
func trigArg(r *rand.Rand) float64 {
	if r.IntN(2) == 0 {
		return 2 * math.Pi * ((float64(r.Uint32()) + 1) / (1 << 32))
	}
	x := math.Ldexp(r.Float64(), r.IntN(80)-20)
	if r.IntN(2) == 0 {
		x = -x
	}
	if r.IntN(50) == 0 {
		x = math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(0x7fe)+1)<<52)
	}
	return x
}

// ulps returns the distance of got from want in units of want's last place.
func ulps(got, want float64) float64 {
	if got == want || math.IsNaN(got) && math.IsNaN(want) {
		return 0
	}
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.Inf(1)
	}
	ulp := math.Nextafter(math.Abs(want), math.Inf(1)) - math.Abs(want)
	if ulp == 0 || math.IsInf(ulp, 0) || math.IsNaN(ulp) {
		return math.Inf(1)
	}
	return math.Abs(got-want) / ulp
}

// TestAgainstStd checks the accuracy against the standard library.
func TestAgainstStd(t *testing.T) {
	for _, fn := range funcs {
		r := rand.New(rand.NewPCG(1, 2))
		worst := 0.0
		for range 100000 {
			x := fn.args(r)
			if fn.name == "Exp" && (x > 709 || x < -708) {
				// math.Exp on amd64 (assembly) overflows from about 709.6
				// on and loses bits for subnormal results: no reference.
				continue
			}
			got, want := fn.f(x), fn.std(x)
			if d := ulps(got, want); d > fn.tolerance {
				t.Fatalf("%s(%v) = %v, math gives %v: %.1f ulps apart", fn.name, x, got, want, d)
			} else {
				worst = max(worst, d)
			}
		}
		t.Logf("%s: at most %.2f ulps from math.%s", fn.name, worst, fn.name)
	}
}

// TestSpecial checks the special cases.
func TestSpecial(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	negZero := math.Copysign(0, -1)
	for _, c := range []struct {
		name    string
		f       func(float64) float64
		x, want float64
	}{
		{"Log", Log, 1, 0}, {"Log", Log, 0, -inf}, {"Log", Log, inf, inf}, {"Log", Log, -1, nan}, {"Log", Log, nan, nan},
		{"Log", Log, math.E, 1},
		{"Exp", Exp, 0, 1}, {"Exp", Exp, inf, inf}, {"Exp", Exp, -inf, 0}, {"Exp", Exp, nan, nan}, {"Exp", Exp, 710, inf},
		{"Exp", Exp, -746, 0}, {"Exp", Exp, 1, math.E},
		{"Sin", Sin, 0, 0}, {"Sin", Sin, negZero, negZero}, {"Sin", Sin, inf, nan}, {"Sin", Sin, nan, nan},
		{"Cos", Cos, 0, 1}, {"Cos", Cos, -inf, nan}, {"Cos", Cos, nan, nan},
	} {
		got := c.f(c.x)
		if math.Float64bits(got) != math.Float64bits(c.want) && !(math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("%s(%v) = %v, want %v", c.name, c.x, got, c.want)
		}
	}
}

// pinned is the SHA-256 of the bits of Log, Exp, Sin and Cos on the
// arguments that TestPinnedBits draws, then of PowInt: the same in every build (the CI
// matrix runs this test on amd64 with and without the assembly, at GOAMD64 v1
// and v3, and on arm64).
const pinned = "99fc28c490b818759f08583d8af827a4c5a1a61ad9eb55dd0b4160c605365e06"

// TestPinnedBits checks the results' bits against the digest written above.
func TestPinnedBits(t *testing.T) {
	h := sha256.New()
	var buf [8]byte
	for _, fn := range funcs {
		r := rand.New(rand.NewPCG(3, 4))
		for range 100000 {
			binary.LittleEndian.PutUint64(buf[:], math.Float64bits(fn.f(fn.args(r))))
			h.Write(buf[:])
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		binary.LittleEndian.PutUint64(buf[:], math.Float64bits(PowInt(r.Float64(), int64(r.IntN(1<<20)))))
		h.Write(buf[:])
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != pinned {
		t.Fatalf("digest of the results %s, pinned %s: this build computes other bits", got, pinned)
	}
}

// TestPowInt checks PowInt against math.Pow with integer exponents, bitwise:
// the integer path of math.Pow is the same arithmetic.
func TestPowInt(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 100000 {
		var x float64
		switch i % 3 {
		case 0:
			x = r.Float64() // Adam's beta**step
		case 1:
			x = 1 - math.Ldexp(r.Float64(), -r.IntN(30))
		default:
			x = math.Ldexp(r.Float64()-0.5, r.IntN(200)-100)
		}
		n := int64(r.IntN(1 << uint(r.IntN(24)+1)))
		if r.IntN(10) == 0 {
			n = -n
		}
		got, want := PowInt(x, n), math.Pow(x, float64(n))
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("PowInt(%v, %d) = %v, math.Pow gives %v", x, n, got, want)
		}
	}
	inf, negZero := math.Inf(1), math.Copysign(0, -1)
	for _, c := range []struct {
		x float64
		n int64
	}{{0, 3}, {0, -3}, {negZero, 3}, {negZero, 2}, {negZero, -3}, {negZero, -2}, {inf, 2}, {-inf, 3}, {-inf, 2},
		{-inf, -3}, {-inf, -2}, {math.NaN(), 2}, {1, -5}, {-1, 7}, {-1, 8}, {2, 1100}, {2, -1100}, {0.5, 1 << 40}, {-2, 1<<40 + 1}} {
		got, want := PowInt(c.x, c.n), math.Pow(c.x, float64(c.n))
		if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("PowInt(%v, %d) = %v, math.Pow gives %v", c.x, c.n, got, want)
		}
	}
}
