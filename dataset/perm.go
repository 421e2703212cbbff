package dataset

import (
	"fmt"
	"math/bits"
)

// The package's random numbers come from SplitMix64 (Steele, Lea and Flood, "Fast
// splittable pseudorandom number generators", OOPSLA 2014): the state advances by the
// golden-ratio constant and each output is the state passed through mix64. Nothing
// uses math/rand or any global state, so every result is a pure function of its keys.
const golden = 0x9e3779b97f4a7c15

// Domain constants keep the streams of different uses apart.
const (
	domainPerm      = 0x7065726d2d763031 // "perm-v01"
	domainSynthetic = 0x73796e74682d7631 // "synth-v1"
	domainCodes     = 0x636f6465732d7631 // "codes-v1"
)

// mix64 is the SplitMix64 output function (a bijection on uint64).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// splitmix64 is a SplitMix64 stream.
type splitmix64 struct{ state uint64 }

// newStream returns the stream keyed by (domain, a, b): its initial state is
// mix64(mix64(mix64(domain) ^ a) ^ b).
func newStream(domain, a, b uint64) *splitmix64 {
	return &splitmix64{state: mix64(mix64(mix64(domain)^a) ^ b)}
}

// next returns the next 64 random bits.
func (s *splitmix64) next() uint64 {
	s.state += golden
	return mix64(s.state)
}

// bounded returns a uniform integer in [0, k) for k > 0 by Lemire's multiply-and-reject
// method ("Fast random integer generation in an interval", ACM TOMACS 2019).
func (s *splitmix64) bounded(k uint64) uint64 {
	hi, lo := bits.Mul64(s.next(), k)
	if lo < k {
		thresh := -k % k
		for lo < thresh {
			hi, lo = bits.Mul64(s.next(), k)
		}
	}
	return hi
}

// float32 returns a uniform float32 in [0, 1) with 24 random bits.
func (s *splitmix64) float32() float32 {
	return float32(float32(s.next()>>40) / (1 << 24)) // exact; the conversion keeps callers from fusing it
}

// Perm returns the permutation of [0, n) used in epoch `epoch` of a job with seed
// `seed`. It depends only on (seed, epoch, n): a Fisher-Yates shuffle (for i = n-1
// down to 1: swap p[i] with p[j], j uniform in [0, i]) of the identity, drawing j from
// the SplitMix64 stream whose initial state is
// mix64(mix64(mix64("perm-v01") ^ seed) ^ epoch), bounded by Lemire's method.
// It panics if n < 0.
func Perm(seed uint64, epoch, n int) []int {
	if n < 0 {
		panic(fmt.Sprintf("dataset.Perm: n = %d < 0", n))
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r := newStream(domainPerm, seed, uint64(epoch))
	for i := n - 1; i > 0; i-- {
		j := int(r.bounded(uint64(i + 1)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Plan cuts an epoch of N samples into global steps of Batch samples and each step
// into micro-batches of Micro samples (docs/architecture.md, "One training step"): step k
// takes perm[k*Batch : (k+1)*Batch], cut into Batch/Micro micro-batches, and
// micro-batch j of a step goes to ring position j mod W.
//
// The last step is kept when N is not a multiple of Batch: it holds the remaining
// N - (Steps()-1)*Batch samples, cut into micro-batches of Micro with a last, shorter
// micro-batch when needed. So every sample is used exactly once per epoch, whatever
// the number of workers; the step's loss and gradient are sums over the samples it
// actually has (len(StepSamples)), as for any other step.
type Plan struct {
	N     int // samples per epoch (the training set size)
	Batch int // global batch size B
	Micro int // micro-batch size m; Batch must be a multiple of it
}

// Validate checks Batch > 0, Micro > 0, Batch % Micro == 0 and N > 0.
func (p Plan) Validate() error {
	switch {
	case p.N <= 0:
		return fmt.Errorf("%w: Plan.N = %d, want > 0 samples", ErrConfig, p.N)
	case p.Batch <= 0:
		return fmt.Errorf("%w: Plan.Batch = %d, want > 0", ErrConfig, p.Batch)
	case p.Micro <= 0:
		return fmt.Errorf("%w: Plan.Micro = %d, want > 0", ErrConfig, p.Micro)
	case p.Batch%p.Micro != 0:
		return fmt.Errorf("%w: Plan.Batch = %d is not a multiple of Plan.Micro = %d", ErrConfig, p.Batch, p.Micro)
	}
	return nil
}

// Steps returns the number of steps per epoch, ceil(N/Batch); the last one may be
// partial.
func (p Plan) Steps() int { return (p.N + p.Batch - 1) / p.Batch }

// StepSamples returns perm[step*Batch : min((step+1)*Batch, N)], the sample indices of
// global step `step` (a subslice of perm; do not modify it). It panics if len(perm) != N
// or step is outside [0, Steps()).
func (p Plan) StepSamples(perm []int, step int) []int {
	if len(perm) != p.N {
		panic(fmt.Sprintf("dataset.Plan.StepSamples: len(perm) = %d, want N = %d", len(perm), p.N))
	}
	if step < 0 || step >= p.Steps() {
		panic(fmt.Sprintf("dataset.Plan.StepSamples: step %d outside [0, %d)", step, p.Steps()))
	}
	lo := step * p.Batch
	hi := min(lo+p.Batch, p.N)
	return perm[lo:hi:hi]
}

// MicroBatches returns the samples of step `step` cut into consecutive chunks of
// Micro (the last chunk may be shorter when the step is partial). The chunks are
// subslices of perm; do not modify them. It panics like StepSamples.
func (p Plan) MicroBatches(perm []int, step int) [][]int {
	s := p.StepSamples(perm, step)
	out := make([][]int, 0, (len(s)+p.Micro-1)/p.Micro)
	for lo := 0; lo < len(s); lo += p.Micro {
		hi := min(lo+p.Micro, len(s))
		out = append(out, s[lo:hi:hi])
	}
	return out
}

// Assign returns the micro-batch indices j in [0, numMicro) with j % workers == rank,
// ascending: the work of ring position `rank` in a generation of `workers` workers.
// It panics if workers <= 0, rank is outside [0, workers) or numMicro < 0.
func Assign(numMicro, workers, rank int) []int {
	if workers <= 0 || rank < 0 || rank >= workers || numMicro < 0 {
		panic(fmt.Sprintf("dataset.Assign(numMicro=%d, workers=%d, rank=%d): want numMicro >= 0, workers > 0, 0 <= rank < workers", numMicro, workers, rank))
	}
	var out []int
	for j := rank; j < numMicro; j += workers {
		out = append(out, j)
	}
	return out
}
