package main

// `asf health`: the health check of a running node, for container images that
// have no shell or curl (the asf images are FROM scratch).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// errUnhealthy is wrapped by every failed health check.
var errUnhealthy = errors.New("not healthy")

// defaultHealthAddr is what `asf health` checks without an address: the gRPC
// listen address of the node in the same container (ASF_LISTEN, which
// asf-coordinator and asf-worker read), on the loopback interface, else the
// standard gRPC port on the loopback.
func defaultHealthAddr() string {
	const std = "127.0.0.1:7070"
	listen, ok := os.LookupEnv("ASF_LISTEN")
	if !ok || listen == "" {
		return std
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		return std
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// checkHealth checks target once and returns a one-line description of a
// healthy answer. target is host:port (the standard gRPC health service,
// grpc.health.v1.Health/Check of service) or an http:// or https:// URL (a GET
// that must answer 2xx, such as a node's /healthz).
func checkHealth(ctx context.Context, target, service string) (string, error) {
	return checkHealthWith(ctx, target, service, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// checkHealthWith is checkHealth with the gRPC credentials creds.
func checkHealthWith(ctx context.Context, target, service string, creds grpc.DialOption) (string, error) {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return checkHTTP(ctx, target)
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return "", fmt.Errorf("address %q: want host:port (gRPC) or an http(s):// URL: %v", target, err)
	}
	cc, err := grpc.NewClient(target, creds)
	if err != nil {
		return "", fmt.Errorf("%s: %w", target, err)
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(false))
	svc := "server"
	if service != "" {
		svc = "service " + service
	}
	switch status.Code(err) {
	case codes.OK:
	case codes.Unavailable:
		return "", fmt.Errorf("%w: %s: not reachable: %v", errUnhealthy, target, status.Convert(err).Message())
	case codes.DeadlineExceeded:
		return "", fmt.Errorf("%w: %s: no answer before the timeout", errUnhealthy, target)
	case codes.NotFound:
		return "", fmt.Errorf("%w: %s: the health service does not know %s", errUnhealthy, target, svc)
	case codes.Unimplemented:
		return "", fmt.Errorf("%w: %s: does not serve the gRPC health service (grpc.health.v1.Health)", errUnhealthy, target)
	default:
		return "", fmt.Errorf("%w: %s: %v", errUnhealthy, target, err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return "", fmt.Errorf("%w: %s: %s is %s", errUnhealthy, target, svc, st)
	}
	return fmt.Sprintf("%s: %s is SERVING", target, svc), nil
}

func checkHTTP(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("%w: %s: no answer before the timeout", errUnhealthy, url)
		}
		return "", fmt.Errorf("%w: %s: not reachable: %v", errUnhealthy, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(body))
		if msg != "" {
			msg = ": " + msg
		}
		return "", fmt.Errorf("%w: %s: HTTP %s%s", errUnhealthy, url, resp.Status, msg)
	}
	return fmt.Sprintf("%s: HTTP %s", url, resp.Status), nil
}

func newHealthCmd() *cobra.Command {
	var (
		timeout time.Duration
		service string
		tf      tlsFlags
	)
	cmd := &cobra.Command{
		Use:   "health [ADDR]",
		Short: "Check that a node answers its health check (exit 0 when serving)",
		Long: `Check a running asf-coordinator or asf-worker once and exit 0 when it is
serving, 1 (with the reason on stderr) when it is not, does not answer within
--timeout, or cannot be reached. It is the health check of the container images,
which have no shell or curl.

ADDR is host:port, checked with the standard gRPC health service
(grpc.health.v1.Health/Check), or an http:// or https:// URL such as a node's
/healthz, which must answer 2xx. With --tls-ca, --tls-cert and --tls-key
(ASF_TLS_* in a node's container) the gRPC check uses mutual TLS. Without ADDR it checks the gRPC listen address
of the node in the same container ($ASF_LISTEN, on 127.0.0.1), else
127.0.0.1:7070.`,
		Example: `  asf health                      # the node beside it (ASF_LISTEN) or 127.0.0.1:7070
  asf health coordinator:7070 --timeout 1s
  asf health http://127.0.0.1:8080/healthz`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--timeout %v: want > 0", timeout)
			}
			target := defaultHealthAddr()
			if len(args) == 1 {
				target = args[0]
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			creds, err := tf.dialOption()
			if err != nil {
				return err
			}
			line, err := checkHealthWith(ctx, target, service, creds)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), line)
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long (a container health check has its own limit above it)")
	tf.register(cmd.Flags())
	cmd.Flags().StringVar(&service, "service", "", `gRPC service to ask about ("" = the server as a whole)`)
	return cmd
}

func init() { rootCmd.AddCommand(newHealthCmd()) }
