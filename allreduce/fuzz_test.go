package allreduce

import (
	"testing"

	"github.com/asfnet/asf/api/asfpb"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// FuzzChunkCodec decodes arbitrary bytes, split across two gRPC buffers, with
// the hand-written ReduceChunk decoder that every peer runs on what its left
// neighbour sends. It must never panic, must refuse what protobuf refuses, and
// what it accepts must equal protobuf's decoding (unknown fields aside).
func FuzzChunkCodec(f *testing.F) {
	for _, m := range []*asfpb.ReduceChunk{
		{Job: "j", Generation: 2, Step: 9, Phase: asfpb.ReducePhase_REDUCE_PHASE_HELLO,
			Hello: &asfpb.ReduceHello{Size: 3, Elements: 1000, Codec: "int64", ChunkElements: 128}},
		{Job: "j", Generation: 2, Step: 9, Phase: asfpb.ReducePhase_REDUCE_PHASE_REDUCE_SCATTER, Round: 1, Index: 3, Sender: 2,
			Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(len(b)/2))
	}
	f.Add([]byte{0x42, 0xff, 0xff, 0xff, 0xff, 0x0f}, uint16(2)) // data announcing 4 GiB
	f.Add([]byte{0x0b, 0x0c}, uint16(1))                         // a group (wire types 3 and 4)
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		at := int(cut) % (len(b) + 1)
		buf := mem.BufferSlice{mem.SliceBuffer(b[:at]), mem.SliceBuffer(b[at:])}
		var got asfpb.ReduceChunk
		err := chunkCodec{}.Unmarshal(buf, &got)
		var want asfpb.ReduceChunk
		werr := proto.Unmarshal(b, &want)
		if err != nil {
			return // stricter than protobuf (groups) is fine
		}
		if werr != nil {
			t.Fatalf("accepted what protobuf refuses (%v)", werr)
		}
		// Unknown fields are kept but may be re-encoded (a varint in its
		// shortest form): compare the fields asf reads.
		got.ProtoReflect().SetUnknown(nil)
		want.ProtoReflect().SetUnknown(nil)
		if !proto.Equal(&got, &want) {
			t.Fatalf("decoded %v, protobuf %v", &got, &want)
		}
		freePayload(got.Data)
	})
}
