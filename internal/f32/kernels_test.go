package f32

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// childEnv marks the test binary re-executed by TestKernelsEnv.
const childEnv = "ASF_F32_TEST_CHILD"

// TestKernelsEnvChild reports the kernel set in use; it does something only
// in the child processes of TestKernelsEnv.
func TestKernelsEnvChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only as the child process of TestKernelsEnv")
	}
	fmt.Printf("kernels=%s\n", Kernels())
}

// TestKernelsEnv runs this test binary with KernelsEnv set to each kernel
// set of this build and CPU, and to names it cannot run.
func TestKernelsEnv(t *testing.T) {
	run := func(value string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKernelsEnvChild$", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"=1", KernelsEnv+"="+value)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, p := range paths() {
		out, err := run(p)
		if errors.Is(err, syscall.ENOEXEC) {
			// An emulated binary (qemu-user without binfmt_misc) cannot
			// start itself again.
			t.Skipf("cannot re-execute the test binary: %v", err)
		}
		if err != nil {
			t.Fatalf("%s=%s: %v\n%s", KernelsEnv, p, err, out)
		}
		if !strings.Contains(out, "kernels="+p+"\n") {
			t.Fatalf("%s=%s: the child reports\n%s", KernelsEnv, p, out)
		}
	}
	bad := []string{"sse", "AVX2"}
	if len(paths()) < 3 {
		bad = append(bad, "avx512") // this build or CPU lacks it
	}
	for _, name := range bad {
		out, err := run(name)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("%s=%s: %v, want exit status 2\n%s", KernelsEnv, name, err, out)
		}
		if want := fmt.Sprintf("%s=%q: this build and CPU can run %s", KernelsEnv, name, strings.Join(paths(), ", ")); !strings.Contains(out, want) {
			t.Fatalf("%s=%s: output\n%s\nwant %q", KernelsEnv, name, out, want)
		}
	}
}
