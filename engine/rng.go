package engine

import (
	"math"

	"github.com/asfnet/asf/internal/detmath"
)

// Randomness is counter-based: every random number is a pure function of a key
// (seed, domain, and up to three counters such as epoch, sample index and time step)
// and an element index. Nothing depends on the order in which samples, threads or
// workers consume numbers, which is what makes a sample's spikes identical wherever
// it is processed.

// Domains separate the streams of different uses of the same seed.
const (
	domainInit  = 1 // weight initialisation: counters (layer, 0, 0)
	domainTrain = 2 // training input spikes: counters (epoch, sample, t)
	domainEval  = 3 // evaluation input spikes: counters (0, sample, t)
)

const golden = 0x9e3779b97f4a7c15

// mix64 is the splitmix64 finaliser: a bijection of uint64 with good avalanche.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// key derives a stream key from a seed, a domain and three counters.
func key(seed uint64, domain, a, b, c uint64) uint64 {
	h := mix64(seed + golden)
	h = mix64(h ^ (domain * 0xd1b54a32d192ed03))
	h = mix64(h ^ (a + 0x8cb92ba72f3d8dd7))
	h = mix64(h ^ (b * 0xaef17502108ef2d9))
	return mix64(h ^ (c + 0x2545f4914f6cdd1d))
}

// at returns the i-th 64-bit random number of the stream with key k.
func at(k, i uint64) uint64 { return mix64(k + (i+1)*golden) }

// normalStream yields standard normal numbers (Box-Muller) from a keyed stream.
type normalStream struct {
	k     uint64
	i     uint64
	spare float64
	has   bool
}

func newNormalStream(k uint64) *normalStream { return &normalStream{k: k} }

func (g *normalStream) next() float64 {
	if g.has {
		g.has = false
		return g.spare
	}
	r := at(g.k, g.i)
	g.i++
	// Two 32-bit uniforms in (0, 1].
	u1 := (float64(r>>32) + 1) / (1 << 32)
	u2 := (float64(r&0xffffffff) + 1) / (1 << 32)
	rad := math.Sqrt(-2 * detmath.Log(u1))
	g.spare = rad * detmath.Sin(2*math.Pi*u2)
	g.has = true
	return rad * detmath.Cos(2*math.Pi*u2)
}
