package coordinator

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"testing"

	"github.com/asfnet/asf/api/asfpb"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

func TestValidateReport(t *testing.T) {
	ok := func() *asfpb.StepReport {
		return &asfpb.StepReport{WorkerId: "w1", Step: 3, Ok: true, Mse: 0.5, Ce: 1.2, Correct: 7, Samples: 32,
			MicroBatches: []int32{0, 2}, StepUs: 1000}
	}
	if err := validateReport(ok()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(*asfpb.StepReport)
		field string
	}{
		{"NaN loss", func(r *asfpb.StepReport) { r.Mse = math.NaN() }, "mse"},
		{"infinite cross-entropy", func(r *asfpb.StepReport) { r.Ce = math.Inf(1) }, "ce"},
		{"negative loss", func(r *asfpb.StepReport) { r.Mse = -1 }, "mse"},
		{"negative step", func(r *asfpb.StepReport) { r.Step = -1 }, "step"},
		{"more correct than samples", func(r *asfpb.StepReport) { r.Correct = 33 }, "correct"},
		{"negative micro-batch", func(r *asfpb.StepReport) { r.MicroBatches = []int32{0, -4} }, "micro_batches[1]"},
		{"negative timing", func(r *asfpb.StepReport) { r.ReduceUs = -5 }, "reduce_us"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok()
			tc.spoil(r)
			err := validateReport(r)
			if !errors.Is(err, ErrReport) || !strings.Contains(err.Error(), `worker "w1"`) || !strings.Contains(err.Error(), tc.field+" is") {
				t.Fatalf("got %v, want ErrReport naming worker w1 and %s", err, tc.field)
			}
		})
	}
}

// TestAdmitToken checks the join token on a plaintext connection (no role to
// check): open methods pass, guarded ones need the token.
func TestAdmitToken(t *testing.T) {
	c := &Coordinator{cfg: Config{JoinToken: "s3cret"}}
	ctxWith := func(tok ...string) context.Context {
		ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}})
		if len(tok) > 0 {
			ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("asf-join-token", tok[0]))
		}
		return ctx
	}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		method string
		reason string
	}{
		{"join with the token", ctxWith("s3cret"), asfpb.Coordinator_Join_FullMethodName, ""},
		{"join without a token", ctxWith(), asfpb.Coordinator_Join_FullMethodName, "no join token"},
		{"join with a wrong token", ctxWith("guess"), asfpb.Coordinator_Join_FullMethodName, "wrong join token"},
		{"poll with a wrong token", ctxWith("guess"), asfpb.Coordinator_NextTask_FullMethodName, "wrong join token"},
		{"state with a wrong token", ctxWith("guess"), asfpb.WorkerState_GetState_FullMethodName, "wrong join token"},
		{"report without a token", ctxWith(), asfpb.Coordinator_Report_FullMethodName, "no join token"},
		{"status without a token", ctxWith(), asfpb.Coordinator_Status_FullMethodName, ""},
		{"health without a token", ctxWith(), "/grpc.health.v1.Health/Check", ""},
		{"unknown method without a token", ctxWith(), "/asf.v1.Coordinator/Future", "no join token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.admit(tc.ctx, tc.method); got != tc.reason {
				t.Fatalf("admit: %q, want %q", got, tc.reason)
			}
		})
	}
	open := &Coordinator{}
	if r := open.admit(ctxWith(), asfpb.Coordinator_Join_FullMethodName); r != "" {
		t.Fatalf("without a configured token: %q", r)
	}
}
