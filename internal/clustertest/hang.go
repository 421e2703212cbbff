package clustertest

import (
	"context"
	"log/slog"
	"os"
	ossignal "os/signal"
	"syscall"
)

// hangOnSignal returns a worker's BeforeReduce hook for a child process: after
// SIGUSR1 its steps block before their reduction (the Hang fault: a compute
// that never ends) until SIGUSR2; the rest of the process (gossip, gRPC)
// goes on. A blocked step ignores its context, as a stuck compute would.
func hangOnSignal(log *slog.Logger) func(context.Context, int) {
	g := &gate{}
	ch := make(chan os.Signal, 4)
	ossignal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for sig := range ch {
			if sig == syscall.SIGUSR1 {
				log.Info("clustertest: compute hung (SIGUSR1)")
				g.stop()
			} else {
				log.Info("clustertest: compute released (SIGUSR2)")
				g.cont()
			}
		}
	}()
	return g.wait
}
