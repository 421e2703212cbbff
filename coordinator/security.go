package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/secure"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// MaxMessageBytes bounds every gRPC message the coordinator receives: worker
// requests are small (ids, addresses, held states, step statistics).
const MaxMessageBytes = 1 << 20

// open are the methods that need no join token: reads of the cluster's
// status and health. Every other method (the job, a ring slot, a say in the
// step, the training state) needs it.
var open = map[string]bool{
	asfpb.Coordinator_Status_FullMethodName: true,
	"/grpc.health.v1.Health/Check":          true,
	"/grpc.health.v1.Health/Watch":          true,
	"/grpc.health.v1.Health/List":           true,
}

// serverOptions are the options of the coordinator's gRPC server: TLS (or
// plaintext), message size limit, keepalive enforcement and the join token.
func (c *Coordinator) serverOptions() []grpc.ServerOption {
	// Any role of the CA may connect (the coordinator's own for `asf health`
	// in its container); only workers may call the guarded methods.
	return cluster.ServerOptions(c.cfg.TLS, c.log, MaxMessageBytes, c.tokenUnary, c.tokenStream)
}

// dialOption is the transport credentials for dialling a worker.
func (c *Coordinator) dialOption() grpc.DialOption { return c.cfg.TLS.DialOption(secure.RoleWorker) }

// admit checks a call: a guarded method needs a worker's certificate (with
// TLS) and the join token (when one is configured). It returns the reason of
// a refusal, "" to let the call through.
func (c *Coordinator) admit(ctx context.Context, method string) string {
	if open[method] {
		return ""
	}
	if method == asfpb.Coordinator_Backup_FullMethodName { // an operator's tool (asf checkpoint backup)
		if !secure.RoleAllowed(ctx, secure.RoleClient, secure.RoleWorker) {
			r, _ := secure.PeerRole(ctx)
			return fmt.Sprintf("a %s certificate may not call %s (client or worker only)", r, method)
		}
	} else if !secure.RoleAllowed(ctx, secure.RoleWorker) {
		r, _ := secure.PeerRole(ctx)
		return fmt.Sprintf("a %s certificate may not call %s (worker only)", r, method)
	}
	if c.cfg.JoinToken == "" {
		return ""
	}
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get(secure.TokenKey)
	switch {
	case len(got) == 0:
		return "no join token"
	case len(got) > 1 || !secure.TokenEqual(got[0], c.cfg.JoinToken):
		return "wrong join token"
	}
	return ""
}

// refuse logs and returns the refusal of a call.
func (c *Coordinator) refuse(ctx context.Context, method, reason string, req any) error {
	from := ""
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	id := ""
	if r, ok := req.(interface{ GetWorkerId() string }); ok {
		id = r.GetWorkerId()
	}
	c.log.Warn("refused a worker", "worker", id, "peer", from, "method", method, "reason", reason)
	return status.Errorf(codes.PermissionDenied, "coordinator: %s", reason)
}

func (c *Coordinator) tokenUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if reason := c.admit(ctx, info.FullMethod); reason != "" {
		return nil, c.refuse(ctx, info.FullMethod, reason, req)
	}
	return h(ctx, req)
}

func (c *Coordinator) tokenStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if reason := c.admit(ss.Context(), info.FullMethod); reason != "" {
		return c.refuse(ss.Context(), info.FullMethod, reason, nil)
	}
	return h(srv, ss)
}

// ErrReport reports a step report whose numbers cannot be true.
var ErrReport = errors.New("coordinator: malformed step report")

// validateReport checks the numbers of a step report from a worker: finite,
// non-negative statistics and timings, a non-negative step, micro-batch
// indices that are not negative. The error names the worker and the field.
func validateReport(r *asfpb.StepReport) error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: worker %q: %s is %v, want %s", ErrReport, r.GetWorkerId(), field, v, want)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"mse", r.GetMse()}, {"ce", r.GetCe()}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return bad(f.name, f.v, "a finite number >= 0")
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"step", r.GetStep()}, {"correct", r.GetCorrect()}, {"samples", r.GetSamples()}, {"sync_us", r.GetSyncUs()},
		{"compute_us", r.GetComputeUs()}, {"reduce_us", r.GetReduceUs()}, {"step_us", r.GetStepUs()}, {"reduce_bytes", r.GetReduceBytes()}} {
		if f.v < 0 {
			return bad(f.name, f.v, ">= 0")
		}
	}
	if r.GetCorrect() > r.GetSamples() {
		return bad("correct", r.GetCorrect(), fmt.Sprintf("<= samples (%d)", r.GetSamples()))
	}
	for i, j := range r.GetMicroBatches() {
		if j < 0 {
			return bad(fmt.Sprintf("micro_batches[%d]", i), j, ">= 0")
		}
	}
	return nil
}
