package allreduce

import (
	"fmt"
	"time"
)

// MaxChunkBytes is the largest Config.ChunkBytes: a chunk and its header must fit
// in gRPC's default 4 MiB message limit.
const MaxChunkBytes = 4<<20 - 4<<10

// MinChunkBytes is the smallest Config.ChunkBytes: two int64 elements.
const MinChunkBytes = 16

// maxJobLen bounds Config.Job so that a header stays small.
const maxJobLen = 256

// Config identifies one reduction and tunes how it runs. Every peer of a ring uses
// the same Job, Generation, Step, Size and ChunkBytes, and its own Rank.
type Config struct {
	// Job names the training job; messages of another job are refused (ErrForeign).
	Job string
	// Generation numbers the ring membership; the coordinator increments it whenever
	// the ring changes. Messages of an older generation are refused (ErrStale).
	Generation uint64
	// Step is the training step being reduced; together with Generation it orders
	// the reductions a peer takes part in.
	Step uint64
	// Rank is this peer's position in the ring, 0 <= Rank < Size. It sends to rank
	// (Rank+1) mod Size and receives from rank (Rank-1) mod Size.
	Rank int
	// Size is the number of peers in the ring (W).
	Size int
	// ChunkBytes is the payload size of one message, MinChunkBytes..MaxChunkBytes;
	// it is rounded down to whole elements.
	ChunkBytes int
	// StallTimeout bounds the time without any message sent or received; after it
	// the reduction fails with ErrStalled (and ErrAborted).
	StallTimeout time.Duration
}

// DefaultConfig returns the configuration of a single peer ring with the default
// tuning; set Job, Generation, Step, Rank and Size for a real ring.
func DefaultConfig() Config {
	return Config{
		Size:         1,                // a ring of one: the reduction is the identity
		ChunkBytes:   1 << 20,          // 1 MiB: well below gRPC's 4 MiB limit, large enough to amortise per-message costs
		StallTimeout: 10 * time.Second, // long enough for a GC pause or a slow link, short enough to notice a dead peer within a step
	}
}

// Validate reports the first field with a value out of range, wrapping ErrConfig.
func (c Config) Validate() error {
	switch {
	case len(c.Job) > maxJobLen:
		return fmt.Errorf("%w: Job is %d bytes long, want at most %d", ErrConfig, len(c.Job), maxJobLen)
	case c.Size < 1:
		return fmt.Errorf("%w: Size is %d, want at least 1", ErrConfig, c.Size)
	case c.Size > 1<<16:
		return fmt.Errorf("%w: Size is %d, want at most %d", ErrConfig, c.Size, 1<<16)
	case c.Rank < 0 || c.Rank >= c.Size:
		return fmt.Errorf("%w: Rank is %d, want 0 <= Rank < Size (%d)", ErrConfig, c.Rank, c.Size)
	case c.ChunkBytes < MinChunkBytes || c.ChunkBytes > MaxChunkBytes:
		return fmt.Errorf("%w: ChunkBytes is %d, want %d..%d", ErrConfig, c.ChunkBytes, MinChunkBytes, MaxChunkBytes)
	case c.StallTimeout <= 0:
		return fmt.Errorf("%w: StallTimeout is %v, want > 0", ErrConfig, c.StallTimeout)
	}
	return nil
}

// left and right return the ranks of this peer's neighbours.
func (c Config) left() int  { return (c.Rank + c.Size - 1) % c.Size }
func (c Config) right() int { return (c.Rank + 1) % c.Size }
