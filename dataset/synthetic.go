package dataset

import (
	"fmt"
	"math/bits"
)

// SyntheticConfig describes a deterministic synthetic data set: class k lights a
// class-specific set of blocks of the image, with per-sample intensity, a small random
// shift and bounded noise. Values are in [0,1], like MNIST.
type SyntheticConfig struct {
	N       int     // number of samples
	Seed    uint64  // the data are a pure function of (Seed, Stream, sample index) and the shape
	Classes int     // number of classes; labels are i % Classes, so classes are balanced
	C, H, W int     // shape of one sample; H and W at least 4
	Noise   float32 // each pixel gets uniform noise in [-Noise, Noise] before clipping to [0,1]
	Stream  uint64  // independent sample stream: Load uses 0 for Train and 1 for Test
}

// DefaultSyntheticConfig returns the configuration Load("synthetic", ...) uses.
func DefaultSyntheticConfig() SyntheticConfig {
	return SyntheticConfig{
		N:       2000, // enough for a small SNN to reach >95% in a few seconds
		Seed:    1,    // any fixed value: the data set is the same on every machine
		Classes: 10,   // like MNIST, CIFAR-10 and N-MNIST
		C:       1,    // one channel: MNIST-like
		H:       16,   // 16x16: small enough for fast tests, large enough for 16C3-P2
		W:       16,
		Noise:   0.2, // visible noise, far below the 0.7..1.0 intensity of lit blocks
	}
}

// Validate checks the configuration; errors name the field and wrap ErrConfig.
func (c SyntheticConfig) Validate() error {
	switch {
	case c.N <= 0:
		return fmt.Errorf("%w: SyntheticConfig.N = %d, want > 0", ErrConfig, c.N)
	case c.Classes < 2 || c.Classes > 256:
		return fmt.Errorf("%w: SyntheticConfig.Classes = %d, want 2..256", ErrConfig, c.Classes)
	case c.C <= 0:
		return fmt.Errorf("%w: SyntheticConfig.C = %d, want > 0", ErrConfig, c.C)
	case c.H < 4 || c.W < 4:
		return fmt.Errorf("%w: SyntheticConfig.H, W = %d, %d, want both >= 4", ErrConfig, c.H, c.W)
	case int64(c.N)*int64(c.C)*int64(c.H)*int64(c.W) > maxPayload:
		return fmt.Errorf("%w: SyntheticConfig: N*C*H*W = %d values, want at most %d", ErrConfig, int64(c.N)*int64(c.C)*int64(c.H)*int64(c.W), maxPayload)
	case !(c.Noise >= 0 && c.Noise < 1):
		return fmt.Errorf("%w: SyntheticConfig.Noise = %v, want in [0, 1)", ErrConfig, c.Noise)
	}
	return nil
}

// synthGrid is the side of the block grid the class patterns are drawn on.
const synthGrid = 4

// synthWeight is the number of blocks each pattern lights.
const synthWeight = 4

// Synthetic generates the data set cfg describes. The image is cut into a 4x4 grid of
// blocks; each class has a pattern of 4 lit blocks, and patterns of different classes
// share as few blocks as possible (at most one for up to 20 classes). Channel c of a
// class-k sample shows the pattern of class (k+c) mod Classes. Sample i has label
// i % Classes and draws, from the SplitMix64 stream keyed by (Seed, Stream, i), an
// intensity in [0.7, 1), a shift of -1, 0 or +1 pixel in each direction and the
// per-pixel noise. Sample i does not depend on N, so a larger N extends a smaller one.
// It panics if cfg.Validate fails (Load validates and returns the error instead).
func Synthetic(cfg SyntheticConfig) *Set {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	codes := synthCodes(cfg.Classes)
	plane := cfg.H * cfg.W
	size := cfg.C * plane
	s := &Set{Name: "synthetic", C: cfg.C, H: cfg.H, W: cfg.W, Frames: 1, Classes: cfg.Classes,
		X: make([]float32, cfg.N*size), Y: make([]uint8, cfg.N)}
	for i := range cfg.N {
		k := i % cfg.Classes
		s.Y[i] = uint8(k)
		r := newStream(domainSynthetic^cfg.Stream, cfg.Seed, uint64(i))
		amp := 0.7 + float32(0.3*r.float32()) // rounded: no fused multiply-add on any platform
		dy, dx := int(r.bounded(3))-1, int(r.bounded(3))-1
		x := s.X[i*size : (i+1)*size]
		for c := range cfg.C {
			code := codes[(k+c)%cfg.Classes]
			for py := range cfg.H {
				for px := range cfg.W {
					v := float32(0)
					sy, sx := py-dy, px-dx
					if sy >= 0 && sy < cfg.H && sx >= 0 && sx < cfg.W {
						b := (sy*synthGrid/cfg.H)*synthGrid + sx*synthGrid/cfg.W
						if code&(1<<b) != 0 {
							v = amp
						}
					}
					v += float32(cfg.Noise * ((r.float32() - 0.5) * 2)) // u-0.5 and the doubling are exact; the product is rounded
					x[c*plane+py*cfg.W+px] = min(max(v, 0), 1)
				}
			}
		}
	}
	return s
}

// synthCodes returns n distinct patterns: bit b of a pattern lights block b of the
// 4x4 grid. It walks the 4-of-16 subsets in a fixed pseudo-random order and keeps a
// subset when it shares at most `overlap` blocks with every pattern kept so far,
// starting with overlap 1 and raising it until n patterns are found.
func synthCodes(n int) []uint16 {
	var all []uint16
	for m := range 1 << (synthGrid * synthGrid) {
		if bits.OnesCount16(uint16(m)) == synthWeight {
			all = append(all, uint16(m))
		}
	}
	r := newStream(domainCodes, 0, 0)
	for i := len(all) - 1; i > 0; i-- {
		j := int(r.bounded(uint64(i + 1)))
		all[i], all[j] = all[j], all[i]
	}
	var codes []uint16
	used := make([]bool, len(all))
	for overlap := 1; len(codes) < n; overlap++ {
		for i, m := range all {
			if used[i] || len(codes) == n {
				continue
			}
			ok := true
			for _, c := range codes {
				if bits.OnesCount16(m&c) > overlap {
					ok = false
					break
				}
			}
			if ok {
				codes = append(codes, m)
				used[i] = true
			}
		}
	}
	return codes
}
