package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ValidateWorkerID reports whether id can name a worker (cluster.IDPattern).
func ValidateWorkerID(id string) error {
	if !cluster.IDPattern.MatchString(id) {
		return fmt.Errorf("%w: worker id %q: want %s", ErrConfig, id, cluster.IDRule)
	}
	return nil
}

// coordService implements asfpb.CoordinatorServer.
type coordService struct {
	asfpb.UnimplementedCoordinatorServer
	co *Coordinator
}

var _ asfpb.CoordinatorServer = (*coordService)(nil)

func (s *coordService) c() *Coordinator { return s.co }

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// unavailable is the answer of a coordinator whose loop has ended.
var unavailable = status.Error(codes.Unavailable, "the coordinator is shutting down")

// Join implements asfpb.CoordinatorServer.
func (s *coordService) Join(ctx context.Context, req *asfpb.JoinRequest) (*asfpb.JoinResponse, error) {
	c := s.c()
	if err := ValidateWorkerID(req.GetWorkerId()); err != nil {
		return nil, invalid("%v", err)
	}
	if req.GetGrpcAddr() == "" {
		return nil, invalid("grpc_addr is empty")
	}
	c.mu.Lock()
	done := c.pub.done
	c.mu.Unlock()
	if done { // nothing to do: say so at once, without the loop (which may have ended)
		c.log.Info("a worker joined after the job finished: told to end", "worker", req.GetWorkerId())
		return cluster.WelcomeToPB(job.Welcome{JobID: c.job.ID, Job: c.job.JSON(), CoordinatorNode: c.ml.Name(), GossipAddr: c.ml.Addr(), Finished: true}), nil
	}
	var held []Held
	if req.GetJobId() == c.job.ID {
		var err error
		if held, err = cluster.HeldFromPB(req.GetHeld()); err != nil {
			return nil, invalid("%v", err)
		}
	}
	ev := evJoin{info: JoinInfo{ID: req.GetWorkerId(), Incarnation: req.GetNodeName(), Session: req.GetSession(), Ready: req.GetReady(), Held: held,
		LastGen: req.GetLastGeneration(), Addr: req.GetGrpcAddr()}, reply: make(chan uint64, 1)}
	if !c.send(ev) {
		return nil, unavailable
	}
	var gen uint64
	select {
	case gen = <-ev.reply:
	case <-c.quit:
		return nil, unavailable
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	c.log.Info("worker joined", "worker", req.GetWorkerId(), "addr", req.GetGrpcAddr(), "ready", req.GetReady(),
		"held", fmt.Sprint(held), "version", req.GetVersion())
	return cluster.WelcomeToPB(job.Welcome{JobID: c.job.ID, Job: c.job.JSON(), CoordinatorNode: c.ml.Name(), GossipAddr: c.ml.Addr(),
		Generation: gen, Mode: c.cfg.SyncMode, LocalSteps: c.cfg.LocalSteps}), nil
}

// NextTask implements asfpb.CoordinatorServer.
func (s *coordService) NextTask(ctx context.Context, req *asfpb.NextTaskRequest) (*asfpb.Task, error) {
	c := s.c()
	id := req.GetWorkerId()
	if req.GetJobId() == c.job.ID && len(req.GetHeld()) > 0 {
		held, err := cluster.HeldFromPB(req.GetHeld())
		if err != nil {
			return nil, invalid("%v", err)
		}
		select {
		case c.events <- evHolds{id: id, held: held}:
		default: // the loop is busy: the holdings are refreshed by the next poll
		}
	}
	wait := min(time.Duration(req.GetWaitMs())*time.Millisecond, c.cfg.PollWait)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	expired := false
	for {
		c.mu.Lock()
		t, ok := c.pub.tasks[id]
		if !ok {
			t = c.pub.stranger // the machine's answer to a non-member
		}
		tell := t.Kind == TaskDone && !c.pub.told[id]
		if tell {
			c.pub.told[id] = true
		}
		wake, addrs := c.pub.wake, c.pub.addrs
		c.mu.Unlock()
		if tell {
			c.send(evTold{id: id}) // the machine stops serving once every member has been told
		}
		if expired || differs(t, req) {
			return cluster.TaskToPB(c.wireTask(t, addrs)), nil
		}
		select {
		case <-wake:
		case <-timer.C:
			expired = true
		case <-c.quit:
			return nil, unavailable
		case <-ctx.Done():
			// The worker's connection dropped, or it gave up this registration.
			c.log.Debug("a task poll broke off", "worker", id, "session", req.GetSession(), "err", context.Cause(ctx))
			if req.GetSession() != "" {
				c.send(evGone{id: id, session: req.GetSession()})
			}
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}

// reportFromPB converts a step report from the wire.
func reportFromPB(req *asfpb.StepReport) (Report, error) { return cluster.ReportFromPB(req) }

// differs reports whether instruction t differs from what the worker has.
func differs(t Task, req *asfpb.NextTaskRequest) bool {
	if int32(t.Kind) != int32(req.GetHaveKind()) {
		return true
	}
	return t.Kind == TaskCompute && (t.Generation != req.GetHaveGeneration() || int64(t.Step) != req.GetHaveStep())
}

// wireTask is the machine's instruction t as it travels to the worker: with
// the ring's addresses, the unit's place in the job and the stall bound.
func (c *Coordinator) wireTask(t Task, addrs map[string]string) job.Task {
	w := job.Task{Kind: t.Kind, Job: c.job.ID, Generation: t.Generation, Step: t.Step, Rank: t.Rank, Reason: t.Reason,
		Stall: c.cfg.StepDeadline}
	if t.Kind == TaskCompute {
		w.Epoch, w.StepInEpoch, w.LocalSteps = c.units.Unit(t.Step)
	}
	if t.Kind == TaskCompute || t.Kind == TaskDone && t.Base != (Digest{}) {
		w.Base, w.HasBase = t.Base, true
	}
	for _, id := range t.Ring {
		w.Ring = append(w.Ring, job.Peer{ID: id, Addr: addrs[id]})
	}
	switch t.SyncFrom {
	case "":
	case FromCoordinator:
		w.Sync = &job.Peer{Addr: c.addr}
	default:
		w.Sync = &job.Peer{ID: t.SyncFrom, Addr: addrs[t.SyncFrom]}
	}
	return w
}

// Report implements asfpb.CoordinatorServer.
func (s *coordService) Report(ctx context.Context, req *asfpb.StepReport) (*asfpb.ReportAck, error) {
	c := s.c()
	if err := validateReport(req); err != nil {
		c.log.Warn("refused a step report", "worker", req.GetWorkerId(), "err", err)
		return nil, invalid("%v", err)
	}
	if req.GetJobId() != c.job.ID {
		return &asfpb.ReportAck{Reason: fmt.Sprintf("job %q, the coordinator runs %q", req.GetJobId(), c.job.ID)}, nil
	}
	r, err := reportFromPB(req)
	if err != nil {
		return nil, invalid("%v", err)
	}
	if held, err := cluster.HeldFromPB(req.GetHeld()); err == nil && len(held) > 0 {
		select {
		case c.events <- evHolds{id: r.ID, held: held}:
		case <-c.quit:
			return nil, unavailable
		}
	}
	ev := evReport{r: r, reply: make(chan struct{})}
	if !c.send(ev) {
		return nil, unavailable
	}
	select {
	case <-ev.reply:
	case <-c.quit:
		return nil, unavailable
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &asfpb.ReportAck{Accepted: true}, nil
}

// Status implements asfpb.CoordinatorServer: the published status (the
// one Observe reads), converted to its proto here only.
func (s *coordService) Status(context.Context, *asfpb.StatusRequest) (*asfpb.ClusterStatus, error) {
	c := s.c()
	c.mu.Lock()
	st := c.pub.status
	c.mu.Unlock()
	return c.statusPB(st), nil
}

// stateService implements asfpb.WorkerStateServer from the checkpoint store.
type stateService struct {
	asfpb.UnimplementedWorkerStateServer
	co *Coordinator
}

// GetState implements asfpb.WorkerStateServer: it serves the newest checkpoint
// when it is the requested state.
func (s *stateService) GetState(req *asfpb.StateRequest, stream asfpb.WorkerState_GetStateServer) error {
	c := s.co
	j, h, err := cluster.StateRequestFrom(req)
	if err != nil {
		return invalid("%v", err)
	}
	c.mu.Lock()
	ref := c.pub.ckpt
	c.mu.Unlock()
	if j != c.job.ID || ref == nil || ref.held != h {
		return cluster.NotFound(j, h)
	}
	st, _, err := c.store.Load(j, ref.id)
	if errors.Is(err, checkpoint.ErrNotFound) {
		return cluster.NotFound(j, h)
	}
	if err != nil {
		return status.Errorf(codes.Internal, "loading checkpoint %d: %v", ref.id, err)
	}
	enc, err := checkpoint.EncodeState(st)
	if err != nil {
		return status.Errorf(codes.Internal, "encoding checkpoint %d: %v", ref.id, err)
	}
	return cluster.SendState(enc, stream.Send)
}
