package checkpoint

import (
	"crypto/sha256"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Tensor is a named dense float32 array in row-major order, in the standard
// (PyTorch-like) layout: conv weights [out][in][kh][kw], FC weights [out][in].
// An empty Shape is a scalar holding one value.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Elements is the product of the shape, or -1 if a dimension is negative or the
// product overflows.
func (t Tensor) Elements() int {
	return shapeElements(t.Shape)
}

func shapeElements(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return -1
		}
		if d != 0 && n > math.MaxInt/d {
			return -1
		}
		n *= d
	}
	return n
}

// Optimizer is the optimizer's state: its name ("adam" or "sgd"), the number of
// updates it has applied, its per-parameter slots (for Adam "conv1.m" and
// "conv1.v"; for SGD with momentum "conv1.momentum") and the learning rate in force.
type Optimizer struct {
	Name  string
	Step  int64
	Slots []Tensor
	LR    float64
}

// Summary is the metrics summary stored with a checkpoint.
type Summary struct {
	TrainLoss     float64
	TrainAcc      float64
	TestAcc       float64 // meaningful only if HasTest
	HasTest       bool
	SamplesPerSec float64
	Time          time.Time // when the state was taken
}

// State is everything needed to resume training bitwise.
type State struct {
	Job          string    // job id
	Spec         string    // network spec, e.g. "20C5-P2-50C5-P2-200FC-10FC"
	Config       []byte    // the job configuration as JSON (opaque here)
	ConfigDigest [32]byte  // sha256 of Config (computed by the store if zero)
	Seed         uint64    // the job's seed
	Epoch        int       // epoch in progress (0-based)
	Step         int       // global step number completed so far (monotonic across epochs)
	StepInEpoch  int       // steps of Epoch already done
	Weights      []Tensor  // the network's parameters
	Optimizer    Optimizer // optimizer state
	Scales       []float64 // ASF scale S_n per spiking layer
	Metrics      Summary   // metrics at the time the state was taken
}

// Limits on what a state may hold; they bound what a decoder will believe.
const (
	maxNameLen = 1024 // tensor and job names
	maxDims    = 16   // tensor rank
)

// ValidateJobID reports whether id can name a job: 1 to 256 bytes of valid UTF-8
// without control characters.
func ValidateJobID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: job id is empty", ErrInvalidState)
	case len(id) > 256:
		return fmt.Errorf("%w: job id is %d bytes, at most 256 allowed", ErrInvalidState, len(id))
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: job id %q is not valid UTF-8", ErrInvalidState, id)
	case strings.IndexFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("%w: job id %q contains a control character", ErrInvalidState, id)
	}
	return nil
}

// Validate checks the rules Save enforces: a valid job id, non-negative
// counters, every tensor's shape matching its data, unique non-empty names within
// the weights and within the optimizer slots, and a ConfigDigest that is zero or
// the sha256 of Config.
func (st *State) Validate() error {
	if st == nil {
		return fmt.Errorf("%w: state is nil", ErrInvalidState)
	}
	if err := ValidateJobID(st.Job); err != nil {
		return err
	}
	if st.Epoch < 0 || st.Step < 0 || st.StepInEpoch < 0 || st.Optimizer.Step < 0 {
		return fmt.Errorf("%w: job %q: negative counter (epoch %d, step %d, step in epoch %d, optimizer step %d)",
			ErrInvalidState, st.Job, st.Epoch, st.Step, st.StepInEpoch, st.Optimizer.Step)
	}
	if err := validateTensors("weights", st.Weights); err != nil {
		return fmt.Errorf("job %q: %w", st.Job, err)
	}
	if err := validateTensors("optimizer slots", st.Optimizer.Slots); err != nil {
		return fmt.Errorf("job %q: %w", st.Job, err)
	}
	if st.ConfigDigest != ([32]byte{}) && st.ConfigDigest != sha256.Sum256(st.Config) {
		return fmt.Errorf("%w: job %q: ConfigDigest %x is not the sha256 of Config (%x)",
			ErrInvalidState, st.Job, st.ConfigDigest[:8], sha256.Sum256(st.Config))
	}
	return nil
}

func validateTensors(what string, ts []Tensor) error {
	seen := make(map[string]int, len(ts))
	for i, t := range ts {
		switch {
		case t.Name == "":
			return fmt.Errorf("%w: %s[%d] has no name", ErrInvalidState, what, i)
		case len(t.Name) > maxNameLen:
			return fmt.Errorf("%w: %s[%d]: name is %d bytes, at most %d allowed", ErrInvalidState, what, i, len(t.Name), maxNameLen)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("%w: %s[%d]: name %q is not valid UTF-8", ErrInvalidState, what, i, t.Name)
		case len(t.Shape) > maxDims:
			return fmt.Errorf("%w: %s %q has rank %d, at most %d allowed", ErrInvalidState, what, t.Name, len(t.Shape), maxDims)
		}
		if j, dup := seen[t.Name]; dup {
			return fmt.Errorf("%w: %s[%d] and [%d] are both named %q", ErrInvalidState, what, j, i, t.Name)
		}
		seen[t.Name] = i
		if n := t.Elements(); n != len(t.Data) {
			return fmt.Errorf("%w: %s %q: shape %v holds %d values but data has %d", ErrInvalidState, what, t.Name, t.Shape, n, len(t.Data))
		}
	}
	return nil
}

// Info describes a stored checkpoint without its tensors.
type Info struct {
	ID          uint64    // per-job id, increasing with every Save, never reused
	Job         string    // job id
	Spec        string    // network spec
	Epoch       int       // epoch in progress
	Step        int       // global steps completed
	StepInEpoch int       // steps of Epoch done
	Saved       time.Time // when Save committed it (store clock)
	Size        int64     // bytes of the encoded state
	Chunks      int       // number of values the encoding is split across
	Checksum    [32]byte  // sha256 of the encoded state
	Format      uint32    // encoding version of the state
	Metrics     Summary   // the state's metrics summary
}

// VerifyResult is the outcome of verifying one checkpoint: Err is nil when its
// checksum matches and it decodes.
type VerifyResult struct {
	Info
	Err error
}

// OK reports whether the checkpoint verified.
func (r VerifyResult) OK() bool { return r.Err == nil }

// MetricPoint is one entry of a job's metrics history, appended per step or per
// epoch.
type MetricPoint struct {
	Job           string    // job id
	Kind          string    // "step" or "epoch" (free-form, for plots)
	Epoch         int       // epoch the point belongs to
	Step          int       // global step
	Time          time.Time // when it was measured
	Loss          float64   // training loss
	Acc           float64   // training accuracy
	TestAcc       float64   // test accuracy, meaningful only if HasTest
	HasTest       bool      // whether TestAcc was measured
	SamplesPerSec float64   // throughput
	LR            float64   // learning rate in force
	Workers       int       // workers in the generation
	Generation    uint64    // generation number
	// The sums over the step's samples that Loss and Acc are computed from
	// (point format 3 on; zero in older points): a restarted coordinator adds
	// them up again to report the whole epoch.
	MSE, CE          float64
	Correct, Samples int
}
