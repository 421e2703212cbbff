//go:build !linux

package f32

import (
	"testing"
	"time"
)

var processStart = time.Now()

// threadCPU stands in for the thread's CPU time where it is not read: it
// returns the wall time since start-up, so cpu-ns/op equals ns/op.
func threadCPU(*testing.B) time.Duration { return time.Since(processStart) }
