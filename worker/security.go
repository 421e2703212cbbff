package worker

import (
	"errors"
	"time"

	"github.com/asfnet/asf/allreduce"
	"github.com/asfnet/asf/internal/secure"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
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
	return append(allreduce.DefaultGRPCTuning().ServerOptions(),
		w.cfg.TLS.ServerOption(w.log, secure.RoleWorker, secure.RoleCoordinator, secure.RoleClient),
		grpc.MaxRecvMsgSize(maxRecvBytes),
		grpc.ConnectionTimeout(10*time.Second), // a handshake that takes longer is not a live peer
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second, // a client pinging more often is cut off
			PermitWithoutStream: true,            // neighbours keep their connection between steps
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    30 * time.Second, // ping an idle client
			Timeout: 10 * time.Second, // and drop it when the ping is not answered
		}),
	)
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
