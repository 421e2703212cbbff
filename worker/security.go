package worker

import (
	"context"
	"errors"
	"strings"

	"github.com/asfnet/asf/allreduce"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/secure"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ErrRefused reports that the coordinator refused this worker (a wrong or
// missing join token, PermissionDenied or Unauthenticated): retrying would
// not help, so Run returns it.
var ErrRefused = errors.New("worker: the coordinator refused this worker")

// maxRecvBytes bounds a gRPC message the worker receives: one all-reduce
// chunk (at most allreduce.MaxChunkBytes) with its header, or one state chunk.
const maxRecvBytes = 4 << 20

// serverOptions are the options of the worker's gRPC server: the all-reduce
// tuning, TLS accepting ring neighbours, the coordinator and clients (or
// plaintext), the message size limit and keepalive enforcement.
func (w *Worker) serverOptions() []grpc.ServerOption {
	// Any role connects; peerOnly guards the methods.
	return append(allreduce.DefaultGRPCTuning().ServerOptions(),
		cluster.ServerOptions(w.cfg.TLS, w.log, maxRecvBytes, w.peerOnlyUnary, w.peerOnlyStream)...)
}

// coordDialOptions are the options of the connection to the coordinator: TLS
// wanting the coordinator role, and the join token on every call.
func (w *Worker) coordDialOptions() []grpc.DialOption {
	return append([]grpc.DialOption{w.cfg.TLS.DialOption(secure.RoleCoordinator)}, secure.TokenDialOptions(w.cfg.JoinToken)...)
}

// syncDialOptions are those of a state transfer, whose source is a worker or
// the coordinator (which wants the token).
func (w *Worker) syncDialOptions() []grpc.DialOption {
	return append([]grpc.DialOption{w.cfg.TLS.DialOption(secure.RoleWorker, secure.RoleCoordinator)}, secure.TokenDialOptions(w.cfg.JoinToken)...)
}

// peerDialOption is the credentials of the connection to a ring neighbour.
func (w *Worker) peerDialOption() grpc.DialOption { return w.cfg.TLS.DialOption(secure.RoleWorker) }

// peerOnly refuses a call to anything but the health service from a peer
// that is neither a worker nor the coordinator (with TLS).
func (w *Worker) peerOnly(ctx context.Context, method string) error {
	if strings.HasPrefix(method, "/grpc.health.v1.Health/") || secure.RoleAllowed(ctx, secure.RoleWorker, secure.RoleCoordinator) {
		return nil
	}
	r, _ := secure.PeerRole(ctx)
	from := ""
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	w.log.Warn("refused a call", "peer", from, "method", method, "reason", "role "+string(r)+" is not a worker or the coordinator")
	return status.Errorf(codes.PermissionDenied, "worker: a %s certificate may not call %s", r, method)
}

func (w *Worker) peerOnlyUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := w.peerOnly(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (w *Worker) peerOnlyStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := w.peerOnly(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}
