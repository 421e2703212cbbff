//go:build unix && !linux

package scaling

import "syscall"

// rusageThread falls back to the process's usage (no per-thread figure).
const rusageThread = syscall.RUSAGE_SELF
