//go:build !purego

package f32

import (
	"os"
	"testing"
)

// TestDefaultPath checks that a plain build picks the fastest kernel set the
// CPU supports.
func TestDefaultPath(t *testing.T) {
	if os.Getenv(KernelsEnv) != "" {
		t.Skipf("%s=%s pins the kernel set", KernelsEnv, os.Getenv(KernelsEnv))
	}
	if useAsm != hasAVX2() || useAVX512 != hasAVX512() {
		t.Fatalf("useAsm=%v useAVX512=%v, CPU has AVX2 %v, AVX-512F %v",
			useAsm, useAVX512, hasAVX2(), hasAVX512())
	}
	t.Logf("kernel sets on this CPU: %v", paths())
}
