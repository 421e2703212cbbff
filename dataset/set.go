package dataset

import "fmt"

// Set is an in-memory labelled data set.
//
// Its values are held in one of two forms. Event data and synthetic sets keep
// float32 values in X. Image sets (MNIST, Fashion-MNIST, CIFAR-10) keep the
// file's bytes in Pix and the normalised value of every byte per channel in
// Levels, a quarter of the memory (47 MB instead of 188 MB for MNIST's
// training set); Sample decodes a sample through Levels, so both forms give
// the same float32 values bit for bit.
type Set struct {
	Name    string         // "mnist", "fashion-mnist", "cifar10", "nmnist", "synthetic" ("" when read directly by a Read* function)
	C, H, W int            // shape of one frame (1x28x28 MNIST, 3x32x32 CIFAR-10, 2x34x34 N-MNIST)
	Frames  int            // 1 for images; T for binned event data
	Classes int            // number of classes; labels are in [0, Classes)
	X       []float32      // float form: len N*Frames*C*H*W, sample-major, CHW inside a frame, already normalised; nil in byte form
	Pix     []uint8        // byte form: len N*Frames*C*H*W in the order of X; nil in float form
	Levels  [][256]float32 // byte form: Levels[c][b] is the normalised value of byte b in channel c (len C)
	Y       []uint8        // len N
	Zero    []float32      // per channel, the normalised value of a black pixel (padding of a crop); nil means 0
}

// Len returns the number of samples N.
func (s *Set) Len() int { return len(s.Y) }

// SampleSize returns the number of values of one sample: Frames*C*H*W.
func (s *Set) SampleSize() int { return s.Frames * s.C * s.H * s.W }

// Sample returns the Frames*C*H*W values of sample i. In float form it is a
// subslice of X (no copy) whose capacity ends with the sample, so appending to
// it cannot clobber the next one; in byte form it is a new slice decoded
// through Levels. Either way the caller must not modify it. It panics if i is
// out of range.
func (s *Set) Sample(i int) []float32 {
	n := s.SampleSize()
	if s.Pix == nil {
		return s.X[i*n : (i+1)*n : (i+1)*n]
	}
	return s.decode(make([]float32, n), i)
}

// decode writes the values of sample i of a byte-form set into dst (len
// SampleSize) and returns it.
func (s *Set) decode(dst []float32, i int) []float32 {
	n := s.SampleSize()
	pix := s.Pix[i*n : (i+1)*n]
	plane := s.H * s.W
	for off := 0; off < n; off += plane {
		lev := &s.Levels[off/plane%s.C]
		for j, b := range pix[off : off+plane] {
			dst[off+j] = lev[b]
		}
	}
	return dst
}

// Bytes reports whether the set is held in byte form (Pix and Levels).
func (s *Set) Bytes() bool { return s.Pix != nil }

// Values calls f with the values of every sample in order, each decoded
// into a reused buffer in byte form: f must not keep the slice.
func (s *Set) Values(f func(i int, x []float32)) {
	var buf []float32
	if s.Pix != nil {
		buf = make([]float32, s.SampleSize())
	}
	for i := range s.Len() {
		if s.Pix != nil {
			f(i, s.decode(buf, i))
		} else {
			f(i, s.Sample(i))
		}
	}
}

// Subset returns a new Set holding copies of the samples idx, in that order,
// in the form of s. It panics if an index is out of range.
func (s *Set) Subset(idx []int) *Set {
	n := s.SampleSize()
	out := &Set{Name: s.Name, C: s.C, H: s.H, W: s.W, Frames: s.Frames, Classes: s.Classes,
		Y: make([]uint8, 0, len(idx)), Zero: s.Zero, Levels: s.Levels}
	if s.Pix != nil {
		out.Pix = make([]uint8, 0, len(idx)*n)
	} else {
		out.X = make([]float32, 0, len(idx)*n)
	}
	for _, i := range idx {
		if s.Pix != nil {
			out.Pix = append(out.Pix, s.Pix[i*n:(i+1)*n]...)
		} else {
			out.X = append(out.X, s.Sample(i)...)
		}
		out.Y = append(out.Y, s.Y[i])
	}
	return out
}

// Histogram returns the number of samples of each class (len Classes).
func (s *Set) Histogram() []int {
	h := make([]int, s.Classes)
	for _, y := range s.Y {
		if int(y) < len(h) {
			h[y]++
		}
	}
	return h
}

// Check reports whether the Set is internally consistent: positive shape, len(X)
// = Len()*SampleSize() and every label below Classes.
func (s *Set) Check() error {
	if s.C <= 0 || s.H <= 0 || s.W <= 0 || s.Frames <= 0 || s.Classes <= 0 {
		return fmt.Errorf("%w: set %q: shape Frames=%d C=%d H=%d W=%d Classes=%d: want all > 0", ErrConfig, s.Name, s.Frames, s.C, s.H, s.W, s.Classes)
	}
	want := len(s.Y) * s.SampleSize()
	switch {
	case s.Pix != nil && s.X != nil:
		return fmt.Errorf("%w: set %q: both X and Pix are set, want one form", ErrConfig, s.Name)
	case s.Pix != nil && len(s.Pix) != want:
		return fmt.Errorf("%w: set %q: len(Pix) = %d, want %d samples x %d values = %d", ErrConfig, s.Name, len(s.Pix), len(s.Y), s.SampleSize(), want)
	case s.Pix != nil && len(s.Levels) != s.C:
		return fmt.Errorf("%w: set %q: %d Levels tables, want one per channel (%d)", ErrConfig, s.Name, len(s.Levels), s.C)
	case s.Pix == nil && len(s.X) != want:
		return fmt.Errorf("%w: set %q: len(X) = %d, want %d samples x %d values = %d", ErrConfig, s.Name, len(s.X), len(s.Y), s.SampleSize(), want)
	}
	if s.Zero != nil && len(s.Zero) != s.C {
		return fmt.Errorf("%w: set %q: %d Zero values, want one per channel (%d)", ErrConfig, s.Name, len(s.Zero), s.C)
	}
	for i, y := range s.Y {
		if int(y) >= s.Classes {
			return fmt.Errorf("%w: set %q: label of sample %d is %d, want < %d", ErrConfig, s.Name, i, y, s.Classes)
		}
	}
	return nil
}

// Split selects the training or the test part of a data set.
type Split int

const (
	// Train is the training split.
	Train Split = iota
	// Test is the test split.
	Test
)

// String returns "train" or "test".
func (sp Split) String() string {
	switch sp {
	case Train:
		return "train"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(sp))
}
