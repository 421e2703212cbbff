package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors of state transfer.
var (
	// ErrNoState reports that the server does not hold the requested state.
	ErrNoState = errors.New("cluster: the peer does not hold the requested state")
	// ErrTransfer reports a state transfer that broke, or whose bytes do not
	// match the size and SHA-256 announced in its first chunk.
	ErrTransfer = errors.New("cluster: state transfer failed")
	// ErrWire reports a message field that does not decode (a digest that is not
	// 32 bytes, a negative step).
	ErrWire = errors.New("cluster: malformed message")
)

// StateChunkBytes is the payload of one StateChunk: far below gRPC's 4 MiB.
const StateChunkBytes = 1 << 20

// maxStateBytes bounds what a receiver accepts (a guard against a corrupt size).
const maxStateBytes = 8 << 30

// SendState streams the encoded state enc as StateChunks through send: the
// first carries the total size and the SHA-256 of enc.
func SendState(enc []byte, send func(*asfpb.StateChunk) error) error {
	sum := sha256.Sum256(enc)
	for off := 0; off == 0 || off < len(enc); off += StateChunkBytes {
		c := &asfpb.StateChunk{Offset: int64(off), Data: enc[off:min(off+StateChunkBytes, len(enc))]}
		if off == 0 {
			c.TotalSize, c.Sha256 = int64(len(enc)), sum[:]
		}
		if err := send(c); err != nil {
			return err
		}
	}
	return nil
}

// FetchState asks the WorkerState server on cc for the state of job at h and
// returns it decoded, with its encoding, after checking the size and SHA-256
// the server announced. It fails with ErrNoState if the server does not hold
// it, and with ErrTransfer if the stream breaks or the bytes do not match.
func FetchState(ctx context.Context, cc grpc.ClientConnInterface, jobID string, h job.Held) (*checkpoint.State, []byte, error) {
	return FetchStateLimit(ctx, cc, jobID, h, maxStateBytes)
}

// StateBytesBound is the largest encoded state of a network of nParams
// parameters that a receiver should believe: 32 bytes a parameter (the
// weights and two optimizer moments, at most 8 bytes each, and room to spare)
// and 16 MiB for the configuration, names and scales.
func StateBytesBound(nParams int) int64 { return 32*int64(max(0, nParams)) + 16<<20 }

// FetchStateLimit is FetchState refusing (ErrTransfer) a state announced or
// sent larger than limit bytes (see StateBytesBound): a hostile or broken
// peer cannot make the receiver allocate more than the model needs.
func FetchStateLimit(ctx context.Context, cc grpc.ClientConnInterface, jobID string, h job.Held, limit int64) (*checkpoint.State, []byte, error) {
	limit = min(limit, maxStateBytes)
	stream, err := asfpb.NewWorkerStateClient(cc).GetState(ctx, &asfpb.StateRequest{JobId: jobID, Step: int64(h.Step), Digest: h.Digest[:]})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrTransfer, err)
	}
	enc, err := assemble(stream.Recv, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("%s of job %q: %w", h, jobID, err)
	}
	st, err := checkpoint.DecodeState(enc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrTransfer, err)
	}
	return st, enc, nil
}

// assemble receives the chunks of one state from recv (until io.EOF) and
// returns its bytes, after checking them against the size (at most limit)
// and SHA-256 announced by the first chunk. A gRPC NotFound from recv comes
// back wrapping ErrNoState, every other failure wrapping ErrTransfer.
func assemble(recv func() (*asfpb.StateChunk, error), limit int64) ([]byte, error) {
	var (
		buf   bytes.Buffer
		total int64 = -1
		sum   []byte
	)
	for {
		c, err := recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if status.Code(err) == codes.NotFound {
				return nil, fmt.Errorf("%w: %v", ErrNoState, status.Convert(err).Message())
			}
			return nil, fmt.Errorf("%w: %v", ErrTransfer, err)
		}
		if total < 0 {
			if c.GetTotalSize() < 0 || c.GetTotalSize() > limit || len(c.GetSha256()) != sha256.Size {
				return nil, fmt.Errorf("%w: first chunk announces %d bytes (at most %d expected) and a %d-byte checksum",
					ErrTransfer, c.GetTotalSize(), limit, len(c.GetSha256()))
			}
			total, sum = c.GetTotalSize(), c.GetSha256()
			buf.Grow(int(min(total, 64<<20))) // the rest as the bytes arrive
		}
		if c.GetOffset() != int64(buf.Len()) {
			return nil, fmt.Errorf("%w: chunk at offset %d, expected %d", ErrTransfer, c.GetOffset(), buf.Len())
		}
		if int64(buf.Len()+len(c.GetData())) > total {
			return nil, fmt.Errorf("%w: more than the announced %d bytes", ErrTransfer, total)
		}
		buf.Write(c.GetData())
	}
	if total < 0 {
		return nil, fmt.Errorf("%w: empty stream", ErrTransfer)
	}
	if int64(buf.Len()) != total {
		return nil, fmt.Errorf("%w: got %d of the announced %d bytes", ErrTransfer, buf.Len(), total)
	}
	enc := buf.Bytes()
	if got := sha256.Sum256(enc); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("%w: SHA-256 %x of the received bytes, %x announced", ErrTransfer, got[:8], sum[:8])
	}
	return enc, nil
}

// StateRequestFrom decodes a StateRequest.
func StateRequestFrom(r *asfpb.StateRequest) (jobID string, h job.Held, err error) {
	d, err := DigestFrom(r.GetDigest(), "digest")
	if err != nil {
		return "", h, err
	}
	if r.GetStep() < 0 {
		return "", h, fmt.Errorf("%w: step is %d, want >= 0", ErrWire, r.GetStep())
	}
	return r.GetJobId(), job.Held{Step: int(r.GetStep()), Digest: d}, nil
}

// NotFound returns the gRPC error a WorkerState server answers when it does
// not hold the requested state.
func NotFound(jobID string, h job.Held) error {
	return status.Errorf(codes.NotFound, "no state of job %q at %s here", jobID, h)
}
