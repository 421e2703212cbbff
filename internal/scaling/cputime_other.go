//go:build !unix

package scaling

import "time"

var start = time.Now()

// threadCPU falls back to the wall clock where there is no getrusage.
func threadCPU() time.Duration { return time.Since(start) }
