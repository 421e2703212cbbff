package allreduce_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/asfnet/asf/allreduce"
)

// Three peers of an in-memory ring sum their fixed-point contributions: every
// peer ends with the same sum, whatever its rank.
func ExampleAllReduceInt64() {
	const peers = 3
	net := allreduce.NewMemNetwork(peers)
	bufs := make([][]int64, peers)
	var wg sync.WaitGroup
	errs := make([]error, peers)
	for rank := range peers {
		bufs[rank] = []int64{int64(rank), 10 * int64(rank), 1}
		cfg := allreduce.DefaultConfig()
		cfg.Job, cfg.Generation, cfg.Step = "example", 1, 0
		cfg.Rank, cfg.Size = rank, peers
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[rank] = allreduce.AllReduceInt64(context.Background(), net.Transport(rank), cfg, bufs[rank])
		}()
	}
	wg.Wait()
	for rank := range peers {
		fmt.Println(rank, bufs[rank], errs[rank])
	}
	// Output:
	// 0 [3 30 3] <nil>
	// 1 [3 30 3] <nil>
	// 2 [3 30 3] <nil>
}
