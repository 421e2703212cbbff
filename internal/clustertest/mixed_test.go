package clustertest

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/internal/f32"
)

// arm64BinEnv names an arm64 build of this test binary (GOARCH=arm64 go test
// -c); .ci/matrix sets it for TestMixedArchitectures.
const arm64BinEnv = "ASF_CLUSTERTEST_ARM64"

// runMixed runs SmallJob on two worker processes configured by o and checks
// that they never diverged, that both were in the ring of every step, and
// that the job ends with the weights of the single-process run of this
// process.
func runMixed(t *testing.T, o Procs, what string) {
	t.Helper()
	ref, _, dir := reference(t)
	o.Job, o.DataDir, o.Dir, o.Workers = SmallJob(), dir, t.TempDir(), 2
	rep, err := RunProcs(context.Background(), o)
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
	for step, ring := range rep.Rings {
		if ring != nil && len(ring) != 2 {
			t.Fatalf("step %d was committed by the ring %v, want both workers in every step", step, ring)
		}
	}
	t.Logf("%s, reference on %s: digest %x", what, f32.Kernels(), rep.Digest[:8])
}

// TestMixedKernels runs the job on two worker processes that compute with
// different kernel sets, pinned with f32.KernelsEnv: one on the portable Go
// code (what arm64 and amd64 without AVX2 run), one on the AVX2 assembly.
// They must agree after every step (no ErrDiverged) and end with the weights
// of the single-process run of this process (the fastest kernels of this
// CPU: AVX-512 where it has them, a third kernel set).
func TestMixedKernels(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes; skipped in -short mode")
	}
	const asm = "avx2"
	if !slices.Contains(f32.KernelSets(), asm) {
		t.Skipf("this build and CPU run only the kernel sets %v: nothing to mix", f32.KernelSets())
	}
	runMixed(t, Procs{WorkerEnv: map[string][]string{
		"w0": {f32.KernelsEnv + "=go"},
		"w1": {f32.KernelsEnv + "=" + asm},
	}}, "w0 on go, w1 on "+asm)
}

// TestMixedArchitectures runs one worker as an arm64 process (the arm64
// build of this test binary named by arm64BinEnv, under qemu-user) and one
// as this amd64 process: the heterogeneous fleet of the determinism
// guarantee, with the arm64 compiler's code and the portable kernels on one
// side and the assembly on the other.
func TestMixedArchitectures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes; skipped in -short mode")
	}
	bin := os.Getenv(arm64BinEnv)
	if bin == "" {
		t.Skipf("%s is not set: .ci/matrix builds the arm64 test binary and runs this test", arm64BinEnv)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v", arm64BinEnv, err)
	}
	var qemu string
	for _, name := range []string{"qemu-aarch64-static", "qemu-aarch64"} {
		if p, err := exec.LookPath(name); err == nil {
			qemu = p
			break
		}
	}
	if qemu == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-aarch64 missing: .ci/run installs the Debian package qemu-user-static")
		}
		t.Skip("qemu-aarch64 not installed (Debian package qemu-user-static)")
	}
	runMixed(t, Procs{WorkerCmd: map[string][]string{"w0": {qemu, bin}},
		// The emulated worker is many times slower: give it time before
		// the coordinator evicts it.
		StepDeadline: 30 * time.Second, Timeout: 5 * time.Minute}, "w0 arm64 under qemu, w1 amd64 on "+f32.Kernels())
}
