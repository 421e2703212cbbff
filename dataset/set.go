package dataset

import "fmt"

// Set is an in-memory labelled data set.
type Set struct {
	Name    string    // "mnist", "fashion-mnist", "cifar10", "nmnist", "synthetic" ("" when read directly by a Read* function)
	C, H, W int       // shape of one frame (1x28x28 MNIST, 3x32x32 CIFAR-10, 2x34x34 N-MNIST)
	Frames  int       // 1 for images; T for binned event data
	Classes int       // number of classes; labels are in [0, Classes)
	X       []float32 // len N*Frames*C*H*W, sample-major, CHW inside a frame, already normalised
	Y       []uint8   // len N
	Zero    []float32 // per channel, the normalised value of a black pixel (padding of a crop); nil means 0
}

// Len returns the number of samples N.
func (s *Set) Len() int { return len(s.Y) }

// SampleSize returns the number of values of one sample: Frames*C*H*W.
func (s *Set) SampleSize() int { return s.Frames * s.C * s.H * s.W }

// Sample returns the Frames*C*H*W values of sample i: a subslice of X (no copy)
// whose capacity ends with the sample, so appending to it cannot clobber the next one.
// It panics if i is out of range.
func (s *Set) Sample(i int) []float32 {
	n := s.SampleSize()
	return s.X[i*n : (i+1)*n : (i+1)*n]
}

// Subset returns a new Set holding copies of the samples idx, in that order.
// It panics if an index is out of range.
func (s *Set) Subset(idx []int) *Set {
	n := s.SampleSize()
	out := &Set{Name: s.Name, C: s.C, H: s.H, W: s.W, Frames: s.Frames, Classes: s.Classes,
		X: make([]float32, 0, len(idx)*n), Y: make([]uint8, 0, len(idx)), Zero: s.Zero}
	for _, i := range idx {
		out.X = append(out.X, s.Sample(i)...)
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
	if want := len(s.Y) * s.SampleSize(); len(s.X) != want {
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
