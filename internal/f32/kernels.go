package f32

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// KernelsEnv names the environment variable that pins the kernel set of a
// process at start-up: "go" (the portable code), "avx2" or "avx512". Unset or
// empty, the fastest set the CPU supports is used. All sets compute the same
// bits; the variable exists so that tests can run one process, for example
// one worker of a cluster, on a path other than the default. A name this
// build or CPU cannot run stops the process with a message on stderr (exit
// status 2) rather than silently running another set.
const KernelsEnv = "ASF_F32_KERNELS"

// Kernels returns the name of the kernel set in use: "go", "avx2" or
// "avx512".
func Kernels() string {
	switch {
	case !useAsm:
		return "go"
	case useAVX512Set():
		return "avx512"
	}
	return "avx2"
}

// requestedKernels returns the set named by KernelsEnv ("" when unset), or an
// error naming the variable, what it holds and what this build and CPU offer.
func requestedKernels() (string, error) {
	name := os.Getenv(KernelsEnv)
	if name == "" || slices.Contains(paths(), name) {
		return name, nil
	}
	return "", fmt.Errorf("f32: %s=%q: this build and CPU can run %s", KernelsEnv, name, strings.Join(paths(), ", "))
}

// mustRequestedKernels is requestedKernels for start-up: on an error it
// prints it and exits with status 2.
func mustRequestedKernels() string {
	name, err := requestedKernels()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return name
}

// KernelSets lists the kernel sets this build and CPU can run, portable
// first: the values KernelsEnv accepts.
func KernelSets() []string { return slices.Clone(paths()) }
