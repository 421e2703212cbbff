package cluster

import (
	"log/slog"
	"time"

	"github.com/asfnet/asf/internal/secure"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// ServerOptions are the gRPC server options of every asf node: TLS from t (nil:
// plaintext; any role of the CA may connect, and the interceptors guard the
// methods), a bound on received messages, a handshake deadline, keepalive
// enforcement and pings, and the guard interceptors unary and stream.
func ServerOptions(t *secure.TLS, log *slog.Logger, maxRecvBytes int,
	unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor) []grpc.ServerOption {
	return []grpc.ServerOption{
		t.ServerOption(log),
		grpc.MaxRecvMsgSize(maxRecvBytes),
		grpc.ConnectionTimeout(10 * time.Second), // a handshake that takes longer is not a live node
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second, // a client pinging more often is cut off (GOAWAY "too_many_pings")
			PermitWithoutStream: true,            // workers keep their connections alive between polls and steps
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    30 * time.Second, // ping an idle client
			Timeout: 10 * time.Second, // and drop it when the ping is not answered
		}),
		grpc.ChainUnaryInterceptor(unary),
		grpc.ChainStreamInterceptor(stream),
	}
}
