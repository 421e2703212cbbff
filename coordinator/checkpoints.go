package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/cluster"
	"google.golang.org/grpc"
)

// Checkpoints: pulled from a ring member, verified and saved.

// saveCheckpoint pulls the state from the first holder that answers, verifies
// it, saves it, and reports to the loop.
func (c *Coordinator) saveCheckpoint(ctx context.Context, o SaveCheckpoint, sum checkpoint.Summary) {
	defer c.bg.Done()
	ev := evCkpt{held: o.State, eval: o.EpochEnd && !c.cfg.NoTest && c.prep.Test.Len() > 0, epoch: o.State.Step/c.units.PerEpoch - 1}
	var errs []error
	for i, id := range o.From {
		addr := o.Addrs[i]
		st, model, err := c.pull(ctx, addr, o.State)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		st.Metrics = sum
		st.Metrics.Time = time.Now().UTC()
		id, err := c.store.Save(st)
		if err != nil {
			ev.fatal = fmt.Errorf("coordinator: saving the checkpoint of %s: %w", o.State, err)
		} else {
			ev.id, ev.state, ev.model = id, st, model
			c.log.Info("checkpoint saved", "state", o.State.String(), "id", id, "from", addr)
			c.listCheckpoints()
		}
		c.send(ev)
		return
	}
	ev.err = errors.Join(errs...)
	if len(errs) == 0 {
		ev.err = errors.New("no worker holds the state")
	}
	c.send(ev)
}

// summaryFor is the metrics summary stored with checkpoint o, computed on the
// loop: the epoch's running figures, or at an epoch's end that epoch's report
// (the running figures belong to the next epoch by then).
func (c *Coordinator) summaryFor(o SaveCheckpoint) checkpoint.Summary {
	if o.EpochEnd {
		if rep, ok := c.pendingEp[o.State.Step/c.units.PerEpoch-1]; ok {
			return checkpoint.Summary{TrainLoss: rep.TrainLoss, TrainAcc: rep.TrainAcc, SamplesPerSec: rep.SamplesPerSec}
		}
		if n := len(c.reports); n > 0 {
			rep := c.reports[n-1]
			return checkpoint.Summary{TrainLoss: rep.TrainLoss, TrainAcc: rep.TrainAcc, SamplesPerSec: rep.SamplesPerSec}
		}
	}
	a := c.epoch
	if a.samples == 0 {
		return checkpoint.Summary{}
	}
	return checkpoint.Summary{TrainLoss: a.mse / float64(a.samples), TrainAcc: float64(a.correct) / float64(a.samples),
		SamplesPerSec: float64(a.timed) / max(a.last.Sub(a.start).Seconds(), 1e-9)}
}

// pull fetches the state h from the WorkerState server at addr and verifies it.
func (c *Coordinator) pull(ctx context.Context, addr string, h Held) (*checkpoint.State, *engine.Model, error) {
	if addr == "" {
		return nil, nil, errors.New("no address")
	}
	cc, err := grpc.NewClient(addr, c.dialOption())
	if err != nil {
		return nil, nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PullTimeout)
	defer cancel()
	st, _, err := cluster.FetchStateLimit(ctx, cc, c.job.ID, h, cluster.StateBytesBound(c.prep.Net.NParams))
	if err != nil {
		return nil, nil, err
	}
	got, model, err := c.verifyState(st)
	if err != nil {
		return nil, nil, err
	}
	if got != h {
		return nil, nil, fmt.Errorf("%w: asked for %s, got %s", cluster.ErrTransfer, h, got)
	}
	return st, model, nil
}
