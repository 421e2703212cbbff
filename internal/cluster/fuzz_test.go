package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/protobuf/proto"
)

// FuzzAssembleState feeds the receiving side of a state transfer with chunk
// streams a hostile or broken peer could send: it must return the announced
// bytes exactly or an error wrapping ErrTransfer, never panic or accept more
// than the limit.
func FuzzAssembleState(f *testing.F) {
	good := []byte("a state of some bytes, cut into chunks")
	sum := sha256.Sum256(good)
	f.Add(good, int64(len(good)), uint8(7), true, int16(0), int64(1<<20))
	f.Add(good, int64(len(good)), uint8(0), true, int16(0), int64(1<<20))
	f.Add(good, int64(1<<40), uint8(5), true, int16(0), int64(1<<20))
	f.Add(good, int64(len(good)), uint8(5), false, int16(3), int64(1<<20))
	f.Add([]byte{}, int64(0), uint8(1), true, int16(-2), int64(10))
	f.Add(good, int64(-1), uint8(3), true, int16(1), int64(4))
	f.Fuzz(func(t *testing.T, data []byte, total int64, cut uint8, rightSum bool, skew int16, limit int64) {
		s := sum[:]
		if !bytes.Equal(data, good) {
			d := sha256.Sum256(data)
			s = d[:]
		}
		if !rightSum {
			s = s[:int(cut)%len(s)]
		}
		size := int(cut)%16 + 1
		var chunks []*asfpb.StateChunk
		for off := 0; off < len(data) || off == 0; off += size {
			c := &asfpb.StateChunk{Offset: int64(off), Data: data[off:min(off+size, len(data))]}
			if off == 0 {
				c.TotalSize, c.Sha256 = total, s
			}
			if len(chunks) == 1 {
				c.Offset += int64(skew)
			}
			chunks = append(chunks, c)
			if len(data) == 0 {
				break
			}
		}
		i := 0
		recv := func() (*asfpb.StateChunk, error) {
			if i == len(chunks) {
				return nil, io.EOF
			}
			i++
			return chunks[i-1], nil
		}
		got, err := assemble(recv, limit)
		if err != nil {
			if !errors.Is(err, ErrTransfer) {
				t.Fatalf("error %v does not wrap ErrTransfer", err)
			}
			return
		}
		if int64(len(got)) != total || total > limit || !bytes.Equal(got, data) {
			t.Fatalf("accepted %d bytes (announced %d, limit %d), sent %d", len(got), total, limit, len(data))
		}
	})
}

// FuzzWireMessages decodes arbitrary bytes as the messages a node receives
// that carry held states and state requests, and runs the decoders the
// handlers use: no panic, and what decodes is within range.
func FuzzWireMessages(f *testing.F) {
	d := sha256.Sum256([]byte("x"))
	for _, m := range []proto.Message{
		&asfpb.JoinRequest{WorkerId: "w1", GrpcAddr: "127.0.0.1:7071", Held: HeldToPB([]job.Held{{Step: 3, Digest: d}})},
		&asfpb.NextTaskRequest{WorkerId: "w1", Held: HeldToPB([]job.Held{{Step: 0, Digest: d}, {Step: 9, Digest: d}})},
		&asfpb.StateRequest{JobId: "j", Step: 4, Digest: d[:]},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(binary.AppendUvarint(nil, 1<<63))
	f.Fuzz(func(t *testing.T, b []byte) {
		var j asfpb.JoinRequest
		if proto.Unmarshal(b, &j) == nil {
			if hs, err := HeldFromPB(j.GetHeld()); err == nil {
				for _, h := range hs {
					if h.Step < 0 {
						t.Fatalf("held state with step %d accepted", h.Step)
					}
				}
			} else if !errors.Is(err, ErrWire) {
				t.Fatalf("HeldFromPB: %v does not wrap ErrWire", err)
			}
		}
		var r asfpb.StateRequest
		if proto.Unmarshal(b, &r) == nil {
			if _, h, err := StateRequestFrom(&r); err == nil && h.Step < 0 {
				t.Fatalf("state request with step %d accepted", h.Step)
			} else if err != nil && !errors.Is(err, ErrWire) {
				t.Fatalf("StateRequestFrom: %v does not wrap ErrWire", err)
			}
		}
	})
}
