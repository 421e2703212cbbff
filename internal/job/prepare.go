package job

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
)

// ErrData is returned (wrapped) when a job's data does not fit its network or
// encoding.
var ErrData = errors.New("job: data does not fit the job")

// LoadFunc loads a job's training and test sets.
type LoadFunc func(ctx context.Context, j Job) (train, test *dataset.Set, err error)

// FromDir is the LoadFunc that reads (and on first use fetches) the data sets
// from dir: LoadData.
func FromDir(dir string) LoadFunc {
	return func(ctx context.Context, j Job) (*dataset.Set, *dataset.Set, error) { return LoadData(ctx, j, dir) }
}

// LoadData loads the job's training and test sets from dataDir (fetching
// MNIST-like sets on first use) and cuts them to the job's sizes.
func LoadData(ctx context.Context, j Job, dataDir string) (train, test *dataset.Set, err error) {
	opts := j.LoadOptions()
	train, err = dataset.LoadWith(ctx, j.Dataset, dataDir, dataset.Train, opts)
	if err != nil {
		return nil, nil, err
	}
	test, err = dataset.LoadWith(ctx, j.Dataset, dataDir, dataset.Test, opts)
	if err != nil {
		return nil, nil, err
	}
	return first(train, j.TrainSize), first(test, j.TestSize), nil
}

func first(s *dataset.Set, n int) *dataset.Set {
	if n <= 0 || n >= s.Len() {
		return s
	}
	return s.Subset(All(n))
}

// InputShape is the engine input shape of a data set (one frame).
func InputShape(s *dataset.Set) engine.Shape {
	return engine.Shape{C: s.C, H: s.H, W: s.W}
}

// Prepared is a job with its data loaded and its network built, every check
// between them done: what the single-process trainer, the coordinator and
// each worker run.
type Prepared struct {
	Job   Job
	Train *dataset.Set
	Test  *dataset.Set // nil when the loader gave none
	In    engine.Shape
	Net   *engine.Net
	Plan  dataset.Plan // the epoch's steps and micro-batches
}

// Prepare validates j, loads its data with load and builds its network. It
// checks that the data fit: the frames of event data against the encoding,
// the classes against the output layer, and the batch layout against the
// training set.
func Prepare(ctx context.Context, j Job, load LoadFunc) (*Prepared, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	train, test, err := load(ctx, j)
	if err != nil {
		return nil, err
	}
	if err := checkFrames(j, train); err != nil {
		return nil, err
	}
	p := &Prepared{Job: j, Train: train, Test: test, In: InputShape(train)}
	if p.Net, err = j.Net(p.In); err != nil {
		return nil, err
	}
	if train.Classes > p.Net.Classes() {
		return nil, fmt.Errorf("%w: data set %s has %d classes but the network's output layer has %d units",
			ErrData, train.Name, train.Classes, p.Net.Classes())
	}
	p.Plan = dataset.Plan{N: train.Len(), Batch: j.Batch, Micro: j.Micro}
	if err := p.Plan.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkFrames reports a mismatch between the data's frames and the encoding.
func checkFrames(j Job, s *dataset.Set) error {
	if s.Frames > 1 && (j.Neuron.Encoding != engine.Events || j.Neuron.Frames != s.Frames) {
		return fmt.Errorf("%w: data set %s has %d frames per sample: train it with --encoding events --frames %d", ErrData, s.Name, s.Frames, s.Frames)
	}
	if s.Frames <= 1 && j.Neuron.Encoding == engine.Events && j.Neuron.Frames > 1 {
		return fmt.Errorf("%w: data set %s has static samples: the events encoding with %d frames needs event data (nmnist)", ErrData, s.Name, j.Neuron.Frames)
	}
	return nil
}

// Units is the job's unit/step/epoch arithmetic. Training step k is step
// k mod StepsPerEpoch of epoch k div StepsPerEpoch; the unit of work (what a
// generation computes between two commits) is UnitSteps consecutive steps of
// one epoch (1 in gradient mode, the local steps in weights mode; an epoch's
// last unit may be shorter).
type Units struct {
	StepsPerEpoch int // training steps of one epoch (the last may be partial)
	UnitSteps     int // training steps per unit
	PerEpoch      int // units per epoch
	Total         int // units of the job
}

// Units is the unit arithmetic of the prepared job with unitSteps training
// steps per unit (1 in gradient mode).
func (p *Prepared) Units(unitSteps int) Units {
	return NewUnits(p.Plan.Steps(), unitSteps, p.Job.Epochs)
}

// NewUnits is the unit arithmetic of epochs epochs of stepsPerEpoch steps,
// unitSteps steps per unit.
func NewUnits(stepsPerEpoch, unitSteps, epochs int) Units {
	per := (stepsPerEpoch + unitSteps - 1) / unitSteps
	return Units{StepsPerEpoch: stepsPerEpoch, UnitSteps: unitSteps, PerEpoch: per, Total: per * epochs}
}

// Unit returns the epoch of unit u, its first step in the epoch and its
// number of steps.
func (u Units) Unit(unit int) (epoch, first, n int) {
	epoch, first = unit/u.PerEpoch, unit%u.PerEpoch*u.UnitSteps
	return epoch, first, min(u.UnitSteps, u.StepsPerEpoch-first)
}

// Steps is the number of training steps done after unit units.
func (u Units) Steps(unit int) int {
	e, first, _ := u.Unit(unit)
	return e*u.StepsPerEpoch + first
}

// UnitOf is the inverse of Steps: the units done after gs training steps, if
// gs ends a unit.
func (u Units) UnitOf(gs int) (int, bool) {
	e, sie := gs/u.StepsPerEpoch, gs%u.StepsPerEpoch
	if sie%u.UnitSteps != 0 {
		return 0, false
	}
	return e*u.PerEpoch + sie/u.UnitSteps, true
}

// MakeBatch gathers samples idx of s into an engine batch.
func MakeBatch(s *dataset.Set, idx []int) engine.Batch {
	b := engine.Batch{X: make([][]float32, len(idx)), Y: make([]int, len(idx)), Index: idx}
	for i, k := range idx {
		b.X[i] = s.Sample(k)
		b.Y[i] = int(s.Y[k])
	}
	return b
}

// TrainBatch gathers training samples idx of s into an engine batch for epoch
// `epoch`, augmented as the job says (Job.Augment): sample k gets the placement
// Augment.Draw(Seed, epoch, k), a pure function of the job, the epoch and the sample
// index, so every worker and thread count trains on bitwise the same inputs. Without
// augmentation it is MakeBatch (no copy).
func TrainBatch(j Job, s *dataset.Set, idx []int, epoch int) engine.Batch {
	b := MakeBatch(s, idx)
	if !j.Augment.Enabled() {
		return b
	}
	for i, k := range idx {
		b.X[i] = j.Augment.Apply(nil, b.X[i], s.Frames, s.C, s.H, s.W, s.Zero, j.Augment.Draw(j.Seed, epoch, k))
	}
	return b
}

// All returns the indices 0..n-1.
func All(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// Workspaces allocates one engine workspace per thread (0 = GOMAXPROCS).
func Workspaces(n *engine.Net, threads int) []*engine.Workspace {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	wss := make([]*engine.Workspace, threads)
	for i := range wss {
		wss[i] = engine.NewWorkspace(n)
	}
	return wss
}

// Compute is the one "compute a unit of work" function of the trainer and the
// workers: of the n micro-batches of step stepInEpoch of epoch (under the
// permutation perm) it runs those that pick(n) names (nil: all of them) on
// model with the engine on wss, and leaves their fixed-point sum in acc
// (cleared first). It returns the micro-batch indices it ran and the time the
// engine took.
func (p *Prepared) Compute(model *engine.Model, perm []int, epoch, stepInEpoch int, pick func(n int) []int,
	wss []*engine.Workspace, acc []int64) ([]int, time.Duration, error) {
	all := p.Plan.MicroBatches(perm, stepInEpoch)
	which := All(len(all))
	if pick != nil {
		which = pick(len(all))
	}
	mbs := make([]engine.Batch, len(which))
	for i, j := range which {
		mbs[i] = TrainBatch(p.Job, p.Train, all[j], epoch)
	}
	t0 := time.Now()
	clear(acc)
	err := engine.RunMicroBatches(model, mbs, p.Job.Seed, epoch, wss, acc)
	return which, time.Since(t0), err
}

// EpochReport summarises one epoch, the same for the single-process trainer
// and the cluster.
type EpochReport struct {
	Epoch         int
	TrainLoss     float64 // mean MSE loss per sample
	TrainCE       float64 // mean cross-entropy per sample
	TrainAcc      float64
	TestAcc       float64
	HasTest       bool
	Test          engine.EvalResult
	Duration      time.Duration // training part (in the cluster: first to last commit of the epoch)
	EvalDuration  time.Duration
	SamplesPerSec float64
	Scales        []float64 // the ASF scales at the epoch's end (the single-process trainer only)
}

// evalChunk is how many samples Evaluate gathers into one engine batch: a
// byte-form data set (dataset.Set.Pix) is decoded a chunk at a time, never
// whole (the MNIST test set decoded is 31 MB; a chunk is 3 MB).
const evalChunk = 1024

// Evaluate evaluates every sample of s on len(wss) goroutines, a chunk at a
// time. The result is engine.Evaluate's on the whole set: every sample's
// outcome depends on the sample alone and the sums are exact.
func Evaluate(m *engine.Model, s *dataset.Set, seed uint64, wss []*engine.Workspace) (engine.EvalResult, error) {
	return evaluate(m, s, seed, wss, evalChunk)
}

func evaluate(m *engine.Model, s *dataset.Set, seed uint64, wss []*engine.Workspace, chunk int) (engine.EvalResult, error) {
	total := engine.NewEvalResult(m.Net)
	idx := make([]int, 0, chunk)
	for lo := 0; lo < s.Len(); lo += chunk {
		idx = idx[:0]
		for i := lo; i < min(lo+chunk, s.Len()); i++ {
			idx = append(idx, i)
		}
		r, err := engine.Evaluate(m, MakeBatch(s, idx), seed, wss)
		if err != nil {
			return total, err
		}
		total.Merge(r)
	}
	return total, nil
}
