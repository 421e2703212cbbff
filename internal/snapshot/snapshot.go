// Package snapshot converts between the engine's training state (model, optimizer,
// position in the job) and the checkpoint store's State, bitwise in both directions.
package snapshot

import (
	"errors"
	"fmt"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
)

// ErrMismatch is returned when a stored state does not fit the job or network.
var ErrMismatch = errors.New("snapshot: state does not match")

// Position is where in the job a state was taken.
type Position struct {
	Epoch       int // epoch in progress (0-based)
	Step        int // global steps completed
	StepInEpoch int // steps of Epoch completed
}

// Capture returns a deep copy of the training state as a checkpoint State.
// Optimizer slots are named "<layer>.m" and "<layer>.v" (Adam) or "<layer>.momentum"
// (SGD), in the standard layouts like the weights.
func Capture(j job.Job, m *engine.Model, opt *engine.Optimizer, pos Position, sum checkpoint.Summary) *checkpoint.State {
	n := m.Net
	cfg := j.JSON()
	st := &checkpoint.State{
		Job:         j.ID,
		Spec:        n.Spec.String(),
		Config:      cfg,
		Seed:        j.Seed,
		Epoch:       pos.Epoch,
		Step:        pos.Step,
		StepInEpoch: pos.StepInEpoch,
		Weights:     convert(n.ToStandard(m.Params, "weight")),
		Scales:      append([]float64(nil), m.Scales...),
		Metrics:     sum,
	}
	if st.Metrics.Time.IsZero() {
		st.Metrics.Time = time.Now().UTC()
	}
	if opt != nil {
		st.Optimizer = checkpoint.Optimizer{Name: opt.Config.Optimizer, Step: opt.Step, LR: opt.Config.LRAtStep(pos.Epoch, opt.Step)}
		if opt.Config.Optimizer == "adam" {
			st.Optimizer.Slots = append(convert(n.ToStandard(opt.M, "m")), convert(n.ToStandard(opt.V, "v"))...)
		} else {
			st.Optimizer.Slots = convert(n.ToStandard(opt.M, "momentum"))
		}
	}
	return st
}

func convert(ts []engine.Tensor) []checkpoint.Tensor {
	out := make([]checkpoint.Tensor, len(ts))
	for i, t := range ts {
		out[i] = checkpoint.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data}
	}
	return out
}

func back(ts []checkpoint.Tensor) []engine.Tensor {
	out := make([]engine.Tensor, len(ts))
	for i, t := range ts {
		out[i] = engine.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data}
	}
	return out
}

// Job decodes the job stored in st.
func Job(st *checkpoint.State) (job.Job, error) {
	j, err := job.Parse(st.Config, job.Default())
	if err != nil {
		return j, fmt.Errorf("snapshot: the state's job configuration: %w", err)
	}
	return j, nil
}

// Restore rebuilds the job, model and optimizer of st for inputs of shape in. A
// state without optimizer slots (an exported model) gives a fresh optimizer.
func Restore(st *checkpoint.State, in engine.Shape) (job.Job, *engine.Model, *engine.Optimizer, error) {
	j, err := Job(st)
	if err != nil {
		return j, nil, nil, err
	}
	n, err := j.Net(in)
	if err != nil {
		return j, nil, nil, err
	}
	m := engine.NewModel(n, j.Seed)
	if err := n.FromStandard(back(st.Weights), "weight", m.Params); err != nil {
		return j, nil, nil, fmt.Errorf("%w: %v", ErrMismatch, err)
	}
	if len(st.Scales) != len(m.Scales) {
		return j, nil, nil, fmt.Errorf("%w: %d scales stored, the network has %d layers", ErrMismatch, len(st.Scales), len(m.Scales))
	}
	copy(m.Scales, st.Scales)
	opt := engine.NewOptimizer(j.TrainConfig(), n.NParams)
	if len(st.Optimizer.Slots) > 0 {
		if st.Optimizer.Name != j.Optim.Optimizer {
			return j, nil, nil, fmt.Errorf("%w: optimizer %q stored, the job uses %q", ErrMismatch, st.Optimizer.Name, j.Optim.Optimizer)
		}
		opt.Step = st.Optimizer.Step
		slots := back(st.Optimizer.Slots)
		if j.Optim.Optimizer == "adam" {
			err = errors.Join(n.FromStandard(slots, "m", opt.M), n.FromStandard(slots, "v", opt.V))
		} else {
			err = n.FromStandard(slots, "momentum", opt.M)
		}
		if err != nil {
			return j, nil, nil, fmt.Errorf("%w: optimizer slots: %v", ErrMismatch, err)
		}
	}
	return j, m, opt, nil
}
