package coordinator

import (
	"context"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/secure"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
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
	return []grpc.ServerOption{
		c.cfg.TLS.ServerOption(c.log, secure.RoleWorker, secure.RoleClient),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.ConnectionTimeout(10 * time.Second), // a handshake that takes longer is not a live worker
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second, // a client pinging more often is cut off (GOAWAY "too_many_pings")
			PermitWithoutStream: true,            // workers keep their connection alive between polls
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    30 * time.Second, // ping an idle client
			Timeout: 10 * time.Second, // and drop it when the ping is not answered
		}),
		grpc.ChainUnaryInterceptor(c.tokenUnary),
		grpc.ChainStreamInterceptor(c.tokenStream),
	}
}

// dialOption is the transport credentials for dialling a worker.
func (c *Coordinator) dialOption() grpc.DialOption { return c.cfg.TLS.DialOption(secure.RoleWorker) }

// tokenOK reports whether the call carries the join token (always, without
// one configured).
func (c *Coordinator) tokenOK(ctx context.Context, method string) bool {
	if c.cfg.JoinToken == "" || open[method] {
		return true
	}
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get(secure.TokenKey)
	return len(got) == 1 && secure.TokenEqual(got[0], c.cfg.JoinToken)
}

// refuse logs and returns the refusal of a call without the right token.
func (c *Coordinator) refuse(ctx context.Context, method string, req any) error {
	from := ""
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	id := ""
	if r, ok := req.(interface{ GetWorkerId() string }); ok {
		id = r.GetWorkerId()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	reason := "wrong join token"
	if len(md.Get(secure.TokenKey)) == 0 {
		reason = "no join token"
	}
	c.log.Warn("refused a worker", "worker", id, "peer", from, "method", method, "reason", reason)
	return status.Errorf(codes.PermissionDenied, "coordinator: %s (set --join-token-file to the cluster's token)", reason)
}

func (c *Coordinator) tokenUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if !c.tokenOK(ctx, info.FullMethod) {
		return nil, c.refuse(ctx, info.FullMethod, req)
	}
	return h(ctx, req)
}

func (c *Coordinator) tokenStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if !c.tokenOK(ss.Context(), info.FullMethod) {
		return c.refuse(ss.Context(), info.FullMethod, nil)
	}
	return h(srv, ss)
}
