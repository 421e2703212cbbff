//go:build race

package checkpoint

// raceEnabled: the race detector makes byte copies of tens of MB take seconds,
// so the crash test uses a smaller state under it.
const raceEnabled = true
