package clustertest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/asfnet/asf/internal/f32"
)

// TestMixedKernels runs the job on two worker processes that compute with
// different kernel sets, pinned with f32.KernelsEnv: one on the portable Go
// code (what arm64 and amd64 without AVX2 run), one on the assembly. They
// must agree after every step (no ErrDiverged) and end with the weights of
// the single-process run of this process (the fastest kernels of this CPU).
func TestMixedKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes; skipped in -short mode")
	}
	// w1 takes the AVX2 path: on an AVX-512 machine the reference runs a
	// third kernel set.
	const asm = "avx2"
	if !slices.Contains(f32.KernelSets(), asm) {
		t.Skipf("this build and CPU run only the kernel sets %v: nothing to mix", f32.KernelSets())
	}
	ref, _, dir := reference(t)
	rep, err := RunProcs(context.Background(), Procs{Job: SmallJob(), DataDir: dir, Dir: t.TempDir(), Workers: 2,
		WorkerEnv: map[string][]string{
			"w0": {f32.KernelsEnv + "=go"},
			"w1": {f32.KernelsEnv + "=" + asm},
		}})
	if err != nil {
		t.Fatalf("%v\nchildren's log:\n%s", err, tail(rep.Logs, 60))
	}
	if strings.Contains(rep.Logs, "diverged") {
		t.Fatalf("the workers diverged:\n%s", tail(rep.Logs, 60))
	}
	if rep.Digest != ref {
		t.Fatalf("digest %x, the single-process run (kernels %s) gives %x\n%s", rep.Digest[:8], f32.Kernels(), ref[:8], tail(rep.Logs, 60))
	}
	if rep.Accounting != "ok" {
		t.Fatalf("accounting: %s", rep.Accounting)
	}
	for _, ring := range rep.Rings {
		if ring != nil && len(ring) != 2 {
			t.Fatalf("a step was committed by the ring %v, want both workers in every step", ring)
		}
	}
	t.Logf("w0 on go, w1 on %s, reference on %s: digest %x", asm, f32.Kernels(), rep.Digest[:8])
}
