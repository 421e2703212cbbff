package cluster

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/internal/job"
)

// TestFetchStateLimit: a state announced larger than the model allows is
// refused at the first chunk, before anything is allocated for it; a state
// within the bound arrives.
func TestFetchStateLimit(t *testing.T) {
	st := bigState(t) // 600,000 parameters, about 2.4 MB encoded
	enc, err := checkpoint.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	h := job.Held{Step: 7, Digest: sha256.Sum256([]byte("weights"))}
	bound := StateBytesBound(600_000)
	for _, tc := range []struct {
		name   string
		limit  int64
		damage func(c *asfpb.StateChunk, i int) *asfpb.StateChunk
		want   error
	}{
		{"within the model's bound", bound, nil, nil},
		{"announces a terabyte", bound, func(c *asfpb.StateChunk, i int) *asfpb.StateChunk {
			if i == 0 {
				c.TotalSize = 1 << 40
			}
			return c
		}, ErrTransfer},
		{"larger than a smaller model allows", StateBytesBound(10) - 16<<20 + int64(len(enc))/2, nil, ErrTransfer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := serve(t, &fakeState{held: h, enc: enc, damage: tc.damage})
			_, raw, err := FetchStateLimit(context.Background(), cc, "j", h, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == nil && len(raw) != len(enc) {
				t.Fatalf("got %d bytes, want %d", len(raw), len(enc))
			}
			if tc.want != nil && !strings.Contains(err.Error(), "expected") {
				t.Fatalf("error %q does not say what was expected", err)
			}
		})
	}
	if StateBytesBound(600_000) < int64(len(enc)) {
		t.Fatalf("the bound %d is below a real state of %d bytes", StateBytesBound(600_000), len(enc))
	}
}
