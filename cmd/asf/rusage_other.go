//go:build !linux

package main

import "time"

// threadCPUTime is not measured on this OS: it returns the wall clock.
func threadCPUTime() time.Duration { return time.Duration(time.Now().UnixNano()) }

// cpuTime is not measured on this OS: it returns the wall clock.
func cpuTime() time.Duration { return time.Duration(time.Now().UnixNano()) }

// peakRSSMB is not measured on this OS.
func peakRSSMB() float64 { return 0 }
