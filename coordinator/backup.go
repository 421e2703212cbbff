package coordinator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/asfnet/asf/api/asfpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// backupChunk bounds the data of one BackupChunk: well under gRPC's 4 MiB.
const backupChunk = 1 << 20

// Backup implements asfpb.CoordinatorServer: a consistent copy of the store
// from one read transaction, streamed while training goes on.
func (s *coordService) Backup(_ *asfpb.BackupRequest, stream asfpb.Coordinator_BackupServer) error {
	c := s.c()
	w := &backupWriter{stream: stream, sum: sha256.New()}
	n, err := c.store.BackupStream(func(size int64) error {
		w.size = size
		return nil
	}, w)
	if err == nil {
		err = w.flush()
	}
	if err == nil {
		err = stream.Send(&asfpb.BackupChunk{Size: w.first(), Sha256: w.sum.Sum(nil)})
	}
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			return err // the stream itself failed: the client is gone
		}
		c.log.Warn("store backup failed", "bytes", n, "err", err)
		return status.Errorf(codes.Unavailable, "coordinator: backup of %s: %v", c.store.Path(), err)
	}
	c.log.Info("store backed up", "store", c.store.Path(), "bytes", n)
	return nil
}

// backupWriter sends what it is given as BackupChunks of backupChunk bytes.
type backupWriter struct {
	stream asfpb.Coordinator_BackupServer
	sum    hash.Hash
	buf    []byte
	size   int64
	sent   bool
}

// first returns the size for the next chunk: the copy's size on the first only.
func (w *backupWriter) first() int64 {
	if w.sent {
		return 0
	}
	w.sent = true
	return w.size
}

func (w *backupWriter) Write(p []byte) (int, error) {
	w.sum.Write(p)
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), backupChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == backupChunk {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *backupWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.stream.Send(&asfpb.BackupChunk{Size: w.first(), Data: w.buf})
	w.buf = w.buf[:0]
	return err
}

// ErrBackup means a backup stream was not a whole copy: it ended early, ran
// past its announced size, or its bytes do not hash to the SHA-256 it ended with.
var ErrBackup = errors.New("coordinator: bad backup stream")

// ReceiveBackup asks the coordinator behind client for a backup of its store
// and writes it to w, checking its size and SHA-256. It returns the bytes
// written.
func ReceiveBackup(ctx context.Context, client asfpb.CoordinatorClient, w io.Writer) (int64, error) {
	stream, err := client.Backup(ctx, &asfpb.BackupRequest{})
	if err != nil {
		return 0, err
	}
	sum := sha256.New()
	var n, size int64 = 0, -1
	for {
		ch, err := stream.Recv()
		if err == io.EOF {
			return n, fmt.Errorf("%w: the stream ended after %d of %d bytes without a checksum", ErrBackup, n, size)
		}
		if err != nil {
			return n, err
		}
		if size < 0 {
			size = ch.GetSize()
		}
		if d := ch.GetData(); len(d) > 0 {
			if n+int64(len(d)) > size {
				return n, fmt.Errorf("%w: %d bytes announced, more sent", ErrBackup, size)
			}
			if _, err := w.Write(d); err != nil {
				return n, err
			}
			sum.Write(d)
			n += int64(len(d))
		}
		if want := ch.GetSha256(); len(want) > 0 {
			if n != size {
				return n, fmt.Errorf("%w: %d bytes announced, %d sent", ErrBackup, size, n)
			}
			if got := sum.Sum(nil); !bytes.Equal(got, want) {
				return n, fmt.Errorf("%w: the bytes hash to sha256 %x, the coordinator sent %x", ErrBackup, got[:8], want[:min(8, len(want))])
			}
			return n, nil
		}
	}
}
