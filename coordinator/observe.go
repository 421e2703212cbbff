package coordinator

// A read-only view of the coordinator for dashboards and metrics: Observe
// returns a copy of what the coordinator knows (members, ring, generation
// history, recent steps, checkpoints), safe to call from any goroutine while
// the job runs and after it ended.

import (
	"slices"
	"sync"
	"time"

	"github.com/asfnet/asf/checkpoint"
)

// Limits of the history kept for observers.
const (
	// MaxObservedSteps is how many recent committed steps a Snapshot holds.
	MaxObservedSteps = 2000
	// MaxObservedGenerations is how many recent generation changes it holds.
	MaxObservedGenerations = 200
)

// Snapshot is a copy of the coordinator's state for observers. Durations are
// in seconds so that it encodes to JSON as plain numbers.
type Snapshot struct {
	Time          time.Time `json:"time"`
	Started       time.Time `json:"started"`
	Job           string    `json:"job"`
	Spec          string    `json:"spec"`
	Dataset       string    `json:"dataset"`
	Phase         string    `json:"phase"`
	Error         string    `json:"error,omitempty"`
	Generation    uint64    `json:"generation"`
	Ring          []string  `json:"ring"`
	Step          int       `json:"step"` // training steps completed
	TotalSteps    int       `json:"total_steps"`
	Epoch         int       `json:"epoch"` // epoch in progress (0-based; Epochs when done)
	Epochs        int       `json:"epochs"`
	StepsPerEpoch int       `json:"steps_per_epoch"`
	Batch         int       `json:"batch"`
	// Loss, Accuracy and SamplesPerSec are running means over the epoch in
	// progress.
	Loss          float64 `json:"loss"`
	Accuracy      float64 `json:"accuracy"`
	SamplesPerSec float64 `json:"samples_per_sec"`
	TestAccuracy  float64 `json:"test_accuracy"`
	HasTest       bool    `json:"has_test"`
	Retries       int     `json:"retries"`
	Recomputed    int     `json:"recomputed"`
	// ReduceBytesPerStep is what each ring member sends per step.
	ReduceBytesPerStep int64 `json:"reduce_bytes_per_step"`
	// Commits and CommitSeconds count the steps committed by this coordinator
	// and the sum of their durations (the slowest member's step time).
	Commits       int64   `json:"commits"`
	CommitSeconds float64 `json:"commit_seconds"`

	Members     []MemberSnapshot     `json:"members"`
	Generations []GenerationSnapshot `json:"generations"`
	Steps       []StepSnapshot       `json:"steps"`
	EpochsDone  []EpochSnapshot      `json:"epochs_done"`
	Checkpoints []CheckpointSnapshot `json:"checkpoints"`
}

// MemberSnapshot is one worker as the coordinator sees it.
type MemberSnapshot struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	State string `json:"state"` // "ring", "waiting" or "loading"
	Rank  int    `json:"rank"`  // -1 outside the ring
	Steps int    `json:"steps"` // steps reported
	// Seconds of the last step (total, compute, all-reduce) and the mean step.
	LastStep    float64 `json:"last_step"`
	MeanStep    float64 `json:"mean_step"`
	LastCompute float64 `json:"last_compute"`
	LastReduce  float64 `json:"last_reduce"`
}

// GenerationSnapshot is one generation change.
type GenerationSnapshot struct {
	Generation uint64    `json:"generation"`
	Time       time.Time `json:"time"`
	Step       int       `json:"step"` // training steps completed when it formed
	Ring       []string  `json:"ring"`
	Reason     string    `json:"reason"`
}

// StepSnapshot is one committed step.
type StepSnapshot struct {
	Step          int       `json:"step"` // training steps completed after it
	Epoch         int       `json:"epoch"`
	Time          time.Time `json:"time"`
	Loss          float64   `json:"loss"`     // of this step's batch
	Accuracy      float64   `json:"accuracy"` // of this step's batch
	SamplesPerSec float64   `json:"samples_per_sec"`
	Generation    uint64    `json:"generation"`
	Workers       int       `json:"workers"`
	// StepTime is the slowest ring member's step time, in seconds; Workers
	// maps each member to its own.
	StepTime    float64            `json:"step_time"`
	WorkerTimes map[string]float64 `json:"worker_times"`
}

// EpochSnapshot summarises a finished epoch.
type EpochSnapshot struct {
	Epoch         int     `json:"epoch"`
	Loss          float64 `json:"loss"`
	Accuracy      float64 `json:"accuracy"`
	TestAccuracy  float64 `json:"test_accuracy"`
	HasTest       bool    `json:"has_test"`
	SamplesPerSec float64 `json:"samples_per_sec"`
	Seconds       float64 `json:"seconds"`
}

// CheckpointSnapshot is one checkpoint kept in the store.
type CheckpointSnapshot struct {
	ID    uint64    `json:"id"`
	Step  int       `json:"step"`
	Epoch int       `json:"epoch"`
	Saved time.Time `json:"saved"`
	Bytes int64     `json:"bytes"`
}

// observed is the history kept for Observe; its own lock, so that readers
// never wait on the event loop.
type observed struct {
	mu      sync.Mutex
	started time.Time
	gens    []GenerationSnapshot
	steps   []StepSnapshot
	epochs  []EpochSnapshot
	ckpts   []CheckpointSnapshot
	commits int64
	seconds float64
}

func (o *observed) generation(g NewGeneration, step int, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gens = append(o.gens, GenerationSnapshot{Generation: g.Generation, Time: now, Step: step,
		Ring: slices.Clone(g.Ring), Reason: g.Reason})
	if n := len(o.gens); n > MaxObservedGenerations {
		o.gens = slices.Delete(o.gens, 0, n-MaxObservedGenerations)
	}
}

func (o *observed) step(s StepSnapshot, reports []Report) {
	s.WorkerTimes = make(map[string]float64, len(reports))
	for _, r := range reports {
		t := r.StepTime.Seconds()
		s.WorkerTimes[r.ID] = t
		s.StepTime = max(s.StepTime, t)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.commits++
	o.seconds += s.StepTime
	o.steps = append(o.steps, s)
	if n := len(o.steps); n > MaxObservedSteps {
		o.steps = slices.Delete(o.steps, 0, n-MaxObservedSteps)
	}
}

func (o *observed) epoch(r EpochReport) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.epochs = append(o.epochs, EpochSnapshot{Epoch: r.Epoch, Loss: r.TrainLoss, Accuracy: r.TrainAcc,
		TestAccuracy: r.TestAcc, HasTest: r.HasTest, SamplesPerSec: r.SamplesPerSec, Seconds: r.Duration.Seconds()})
}

func (o *observed) checkpoints(infos []checkpoint.Info) {
	cs := make([]CheckpointSnapshot, 0, len(infos))
	for _, in := range infos {
		cs = append(cs, CheckpointSnapshot{ID: in.ID, Step: in.Step, Epoch: in.Epoch, Saved: in.Saved, Bytes: in.Size})
	}
	slices.SortFunc(cs, func(a, b CheckpointSnapshot) int { return int(int64(a.ID) - int64(b.ID)) })
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ckpts = cs
}

// listCheckpoints reads the job's kept checkpoints from the store into the
// observed history (called where the store is open: at start and after a save).
func (c *Coordinator) listCheckpoints() {
	infos, err := c.store.List(c.job.ID)
	if err != nil {
		c.log.Debug("listing the checkpoints", "err", err)
		return
	}
	c.obs.checkpoints(infos)
}

// Observe returns a copy of the coordinator's state: the published status
// (members, ring, progress) and the recent history. It is safe for concurrent
// use, never waits on the event loop, and works after Run returned.
func (c *Coordinator) Observe() Snapshot {
	c.mu.Lock()
	st := c.pub.status // the same status the gRPC Status reports, not its proto read back
	c.mu.Unlock()
	s := Snapshot{Time: time.Now(), Job: c.job.ID, Spec: c.job.Spec, Dataset: c.job.Dataset, Batch: c.job.Batch}
	s.Phase, s.Error, s.Generation, s.Ring = st.phase, st.err, st.generation, slices.Clone(st.ring)
	s.Step, s.TotalSteps, s.Epoch, s.Epochs = int(st.step), int(st.totalSteps), int(st.epoch), int(st.epochs)
	s.StepsPerEpoch = int(st.stepsPerEpoch)
	s.Loss, s.Accuracy, s.SamplesPerSec = st.loss, st.accuracy, st.samplesPerSec
	s.TestAccuracy, s.HasTest = st.testAccuracy, st.hasTest
	s.Retries, s.Recomputed, s.ReduceBytesPerStep = int(st.retries), int(st.recomputed), st.reduceBytesPerStep
	for _, m := range st.members {
		// In seconds, as the milliseconds of the gRPC status divided by 1000.
		s.Members = append(s.Members, MemberSnapshot{ID: m.id, Addr: m.addr, State: m.state,
			Rank: m.rank, Steps: int(m.steps), LastStep: ms(m.lastStep) / 1e3, MeanStep: ms(m.meanStep) / 1e3,
			LastCompute: ms(m.lastCompute) / 1e3, LastReduce: ms(m.lastReduce) / 1e3})
	}
	o := &c.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	s.Started = o.started
	s.Commits, s.CommitSeconds = o.commits, o.seconds
	s.Generations = slices.Clone(o.gens)
	for i := range s.Generations {
		s.Generations[i].Ring = slices.Clone(s.Generations[i].Ring)
	}
	s.Steps = make([]StepSnapshot, len(o.steps))
	for i, p := range o.steps {
		p.WorkerTimes = cloneMap(p.WorkerTimes)
		s.Steps[i] = p
	}
	s.EpochsDone = slices.Clone(o.epochs)
	s.Checkpoints = slices.Clone(o.ckpts)
	return s
}

func cloneMap(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
