package worker

// Serving a registration: the task poll, the loop that carries out the
// core's decisions on its instructions, the step reports and the job's end.

import (
	"context"
	"fmt"
	"net"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
)

// inflight is a step being computed.
type inflight struct {
	task   order
	cancel context.CancelFunc
	done   chan *job.Report
}

// serve follows the coordinator's instructions until it says the job is done,
// tells us to join again, or cannot be reached.
func (w *Worker) serve(ctx context.Context, cl asfpb.CoordinatorClient, c *core, out *Outcome) error {
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	tasks := make(chan order, 1) // a mailbox: a newer instruction replaces one not yet taken
	lost := make(chan error, 1)
	go w.poll(pctx, cl, tasks, lost)

	var cur *inflight // the step in flight; c decides (core.go), this loop carries it out
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer w.endAhead() // after stop (defers run last first): a step in flight may be taking it
	defer stop()
	// do carries out d; t is the instruction that led to it (for a start).
	do := func(d decision, t order) {
		if d.Cancel {
			stop()
		}
		if d.Await && cur != nil {
			// Finish the step in flight: its result is kept (as the tentative
			// state) for a restarted coordinator to adopt.
			<-cur.done
			cur = nil
		}
		if d.Start {
			sctx, cancel := context.WithCancel(ctx)
			cur = &inflight{task: t, cancel: cancel, done: make(chan *job.Report, 1)}
			go func(f *inflight) { f.done <- w.step(sctx, t) }(cur)
		}
	}
	var curDone <-chan *job.Report
	for {
		if cur != nil {
			curDone = cur.done
		} else {
			curDone = nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ip := <-w.moved:
			d := c.moved(net.ParseIP(ip).Equal(w.gossipHost()))
			do(d, order{})
			if d.Leave == leaveMoved {
				w.movedTo = ip
				return errMoved
			}
		case err := <-lost:
			do(c.lost(), order{})
			return fmt.Errorf("%w: %v", errLost, err)
		case rep := <-curDone:
			t := cur.task
			cur = nil
			c.stepDone()
			w.observeReport(rep)
			if err := w.report(ctx, cl, rep); err != nil {
				return fmt.Errorf("%w: %v", errLost, err)
			}
			w.startAhead(t, rep)
		case t := <-tasks:
			d := c.instruction(t.Kind, stepKey{gen: t.Generation, step: t.Step})
			do(d, t)
			switch d.Leave {
			case leaveDone:
				return w.finish(t, out)
			case leaveRejoin:
				w.log.Info("rejoining", "reason", t.Reason)
				return errRejoin
			}
		}
	}
}

// poll long-polls the coordinator for instructions and puts every answer in
// the tasks mailbox (replacing one not yet taken), so that a poll is nearly
// always outstanding: the coordinator sees the worker's connection drop at
// once. After LostAfter consecutive failures it reports on lost and stops.
func (w *Worker) poll(ctx context.Context, cl asfpb.CoordinatorClient, tasks chan order, lost chan<- error) {
	var have haveKey
	tries := w.cfg.retries(w.cfg.LostAfter)
	for {
		w.mu.Lock()
		req := &asfpb.NextTaskRequest{WorkerId: w.cfg.ID, HaveKind: asfpb.TaskKind(have.kind), HaveGeneration: have.gen, HaveStep: int64(have.step),
			Held: cluster.HeldToPB(w.heldLocked()), WaitMs: w.cfg.PollWait.Milliseconds(), Session: w.session}
		if w.run != nil {
			req.JobId = w.run.job.ID
		}
		w.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, w.cfg.PollWait+w.cfg.RPCTimeout)
		pt, err := cl.NextTask(cctx, req)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			pause, last := tries.failed()
			if last {
				lost <- err
				return
			}
			if !sleep(ctx, pause) {
				return
			}
			continue
		}
		tries.ok()
		task, berr := cluster.TaskFromPB(pt) // the wire ends here
		t := order{Task: task, BaseErr: berr}
		if keyOf(t.Task) == have && t.Kind != job.TaskDone {
			continue // the poll expired: nothing new
		}
		have = keyOf(t.Task)
		select {
		case tasks <- t:
		default:
			select {
			case <-tasks: // superseded before it was taken
			default:
			}
			tasks <- t
		}
		if t.Kind == job.TaskDone || t.Kind == job.TaskRejoin {
			return
		}
	}
}

// report delivers a step report, trying LostAfter times (and pausing after
// the last failure too, before the coordinator counts as lost).
func (w *Worker) report(ctx context.Context, cl asfpb.CoordinatorClient, r *job.Report) error {
	rep := cluster.ReportToPB(*r, w.held()) // the wire form, made here only
	tries := w.cfg.retries(w.cfg.LostAfter)
	for {
		cctx, cancel := context.WithTimeout(ctx, w.cfg.RPCTimeout)
		_, err := cl.Report(cctx, rep)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		pause, last := tries.failed()
		if !sleep(ctx, pause) {
			return ctx.Err()
		}
		if last {
			return err
		}
	}
}

// finish handles the end of the job: it keeps the final state.
func (w *Worker) finish(t order, out *Outcome) error {
	if !t.HasBase {
		return fmt.Errorf("%w: %s", ErrJobFailed, t.Reason)
	}
	final := job.Held{Step: t.Step, Digest: t.Base}
	w.mu.Lock()
	if w.tent != nil && w.tent.held() == final {
		w.setLocked(w.tent, nil)
	}
	have := w.comm != nil && w.comm.held() == final
	if w.run != nil {
		out.Job = w.run.job.ID
	}
	w.mu.Unlock()
	out.Final = final
	w.log.Info("job finished", "state", final.String(), "holds_final_state", have)
	return errDone
}
