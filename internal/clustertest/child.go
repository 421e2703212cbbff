package clustertest

import (
	"log/slog"
	"os"
)

type slogLogger = slog.Logger

// childLogger logs a child's records to its stderr (which the harness
// collects) at the level in ASF_TEST_LOG, or info.
func childLogger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(os.Getenv("ASF_TEST_LOG"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
