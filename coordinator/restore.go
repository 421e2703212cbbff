package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/snapshot"
)

// The coordinator's start: the job and the newest checkpoint restored from the store.

// loadJob settles the job (new, continued or resumed), loads its data and
// reads where it stands from the store.
func (c *Coordinator) loadJob(ctx context.Context) (Start, error) {
	cfg := c.cfg
	j := cfg.Job
	stored, err := c.store.Job(j.ID)
	switch {
	case errors.Is(err, checkpoint.ErrJobNotFound):
		if cfg.Resume {
			return Start{}, fmt.Errorf("%w: %q is not in %s", ErrNoJob, j.ID, c.store.Path())
		}
		if err := c.store.PutJob(j.ID, j.JSON()); err != nil {
			return Start{}, err
		}
	case err != nil:
		return Start{}, err
	case cfg.Resume:
		if j, err = job.Parse(stored, job.Default()); err != nil {
			return Start{}, fmt.Errorf("coordinator: job %q in %s: %w", cfg.Job.ID, c.store.Path(), err)
		}
		if err := checkResume(j, cfg.Job, c.store.Path()); err != nil {
			return Start{}, err
		}
	case string(stored) != string(j.JSON()):
		if !cfg.Fresh {
			return Start{}, fmt.Errorf("%w: %q in %s has another configuration; resume it, start it afresh, or pick another job id",
				ErrJobExists, j.ID, c.store.Path())
		}
		if err := c.store.PutJob(j.ID, j.JSON()); err != nil {
			return Start{}, err
		}
	}
	c.job = j
	load := job.LoadFunc(cfg.Data)
	if load == nil {
		load = job.FromDir(cfg.DataDir)
	}
	if c.prep, err = job.Prepare(ctx, j, load); err != nil {
		return Start{}, err
	}
	unitSteps := 1
	if cfg.SyncMode == SyncWeights {
		unitSteps = cfg.LocalSteps
	}
	c.units = c.prep.Units(unitSteps)
	c.fresh = engine.NewModel(c.prep.Net, j.Seed).Digest()
	c.reduceB = reduceBytes(c.prep.Net.ResultLen())
	st := Start{Fresh: c.fresh}
	if cfg.Fresh {
		if err := c.store.AppendMetrics(checkpoint.MetricPoint{Job: j.ID, Kind: "reset", Time: time.Now().UTC()}); err != nil {
			return Start{}, err
		}
		return st, nil
	}
	points, err := c.store.Metrics(j.ID)
	if err != nil && !errors.Is(err, checkpoint.ErrJobNotFound) {
		return Start{}, err
	}
	for _, p := range points {
		c.hist.replay(c, p)
		st.Generation = max(st.Generation, p.Generation)
		switch p.Kind {
		case "reset":
			st.Ledger, st.Committed = nil, 0
			c.earlier = nil
		case "rollback":
			if u, ok := c.units.UnitOf(p.Step); ok {
				st.Ledger = st.Ledger[:min(len(st.Ledger), u)]
			}
			c.earlier = epochsUpTo(c.earlier, p.Step)
		case "epoch":
			c.earlier = append(epochsUpTo(c.earlier, p.Step-1), EpochTest{Epoch: p.Epoch, Step: p.Step, TestAcc: p.TestAcc, HasTest: p.HasTest})
		case "step":
			u, ok := c.units.UnitOf(p.Step)
			if ok && u >= 1 && u-1 <= len(st.Ledger) {
				st.Ledger = append(st.Ledger[:u-1], LedgerRow{Step: u - 1, Generation: p.Generation, Restored: true})
			}
			if ok {
				st.Committed = max(st.Committed, u)
			}
		}
	}
	state, info, err := c.store.Latest(j.ID)
	switch {
	case errors.Is(err, checkpoint.ErrNoCheckpoint) || errors.Is(err, checkpoint.ErrJobNotFound):
		return st, nil
	case err != nil:
		return Start{}, err
	}
	h, _, err := c.verifyState(state)
	if err != nil {
		return Start{}, fmt.Errorf("%w: checkpoint %d of %q: %v", ErrCheckpoint, info.ID, j.ID, err)
	}
	if h.Step > c.units.Total {
		return Start{}, fmt.Errorf("%w: checkpoint %d of %q is at step %d, the job has %d", ErrCheckpoint, info.ID, j.ID, h.Step, c.units.Total)
	}
	st.Checkpoint = &h
	c.earlier = epochsUpTo(c.earlier, h.Step)
	c.catchUp = c.missedEvaluation(h)
	c.pub.ckpt = &ckptRef{held: h, id: info.ID}
	if h.Step == c.units.Total {
		c.final = state
	}
	c.log.Info("continuing the job from the store", "job", j.ID, "checkpoint", info.ID, "step", h.Step,
		"history_steps", st.Committed)
	return st, nil
}

// verifyState restores st for this job and returns its position and model.
func (c *Coordinator) verifyState(st *checkpoint.State) (Held, *engine.Model, error) {
	j, model, _, err := snapshot.Restore(st, c.prep.In)
	if err != nil {
		return Held{}, nil, err
	}
	if string(j.JSON()) != string(c.job.JSON()) {
		return Held{}, nil, fmt.Errorf("%w: the state belongs to another configuration of job %q", ErrCheckpoint, st.Job)
	}
	if st.Step != st.Epoch*c.units.StepsPerEpoch+st.StepInEpoch {
		return Held{}, nil, fmt.Errorf("%w: step %d is not epoch %d step %d of %d-step epochs", ErrCheckpoint, st.Step, st.Epoch, st.StepInEpoch, c.units.StepsPerEpoch)
	}
	u, ok := c.units.UnitOf(st.Step)
	if !ok {
		return Held{}, nil, fmt.Errorf("%w: step %d is not at the end of a unit of %d local steps (was the job run with another --local-steps?)",
			ErrCheckpoint, st.Step, c.units.UnitSteps)
	}
	return Held{Step: u, Digest: model.Digest()}, model, nil
}

// EpochTest is an epoch of the job's history that an earlier run of the
// coordinator finished: its test accuracy, if it was measured.
type EpochTest struct {
	Epoch   int // 0-based
	Step    int // the step count at its end
	TestAcc float64
	HasTest bool
}

// epochsUpTo keeps the epochs of es that end at or before step.
func epochsUpTo(es []EpochTest, step int) []EpochTest {
	for len(es) > 0 && es[len(es)-1].Step > step {
		es = es[:len(es)-1]
	}
	return es
}

// Earlier returns the epochs a resumed job finished before this coordinator
// started (from the store's metrics history, up to the checkpoint it continues
// from), oldest first; nil for a new job. A resumed run reports the best test
// accuracy over these and its own epochs.
func (c *Coordinator) Earlier() []EpochTest { return slices.Clone(c.earlier) }

// missedEvaluation returns the test evaluation of the last epoch the resumed
// job finished, when the history has no report of it: the job was stopped
// while that epoch's evaluation ran. It is done again from the epoch-end
// checkpoint if the store still holds it; nil when nothing was missed or it
// cannot be redone (said in the log).
func (c *Coordinator) missedEvaluation(h Held) *catchUp {
	e := h.Step/c.units.PerEpoch - 1
	if e < 0 || c.cfg.NoTest || c.prep.Test.Len() == 0 {
		return nil
	}
	if n := len(c.earlier); n > 0 && c.earlier[n-1].Epoch >= e {
		return nil
	}
	end := (e + 1) * c.units.StepsPerEpoch
	infos, err := c.store.List(c.job.ID)
	if err != nil {
		c.log.Warn("the test evaluation of the last finished epoch is missing and the checkpoints cannot be listed", "epoch", e+1, "err", err)
		return nil
	}
	for _, in := range infos {
		if in.Step != end {
			continue
		}
		st, _, err := c.store.Load(c.job.ID, in.ID)
		if err != nil {
			c.log.Warn("the test evaluation of the last finished epoch is missing and its checkpoint does not load", "epoch", e+1, "checkpoint", in.ID, "err", err)
			return nil
		}
		_, model, err := c.verifyState(st)
		if err != nil {
			c.log.Warn("the test evaluation of the last finished epoch is missing and its checkpoint does not fit the job", "epoch", e+1, "checkpoint", in.ID, "err", err)
			return nil
		}
		a := epochAcc{epoch: e}
		c.hist.addTo(&a, e*c.units.PerEpoch, (e+1)*c.units.PerEpoch)
		rep := a.report()
		c.log.Info("evaluating the last finished epoch again: the job stopped during its evaluation", "epoch", e+1, "checkpoint", in.ID)
		return &catchUp{rep: rep, job: evalJob{epoch: e, id: in.ID, model: model}}
	}
	c.log.Warn("the test evaluation of the last finished epoch was lost with the stop, and the store no longer holds its checkpoint", "epoch", e+1)
	return nil
}

// catchUp is an epoch's test evaluation redone on resume.
type catchUp struct {
	rep EpochReport // the epoch's training figures (from the history; no timing)
	job evalJob
}

// startCatchUp queues the evaluation missedEvaluation found (on the loop).
func (c *Coordinator) startCatchUp(now time.Time) {
	if c.catchUp == nil {
		return
	}
	cu := c.catchUp
	c.catchUp = nil
	c.pendingEp[cu.job.epoch] = cu.rep
	c.evals++
	c.m.Evaluating(now, c.evals)
	c.evalQ <- cu.job
}
