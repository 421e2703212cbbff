package allreduce

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/asfnet/asf/api/asfpb"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec chunkCodec defers to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// codecName is the gRPC content-subtype of the Exchange streams that GRPCTransport
// opens ("application/grpc+asf-allreduce"). The bytes on the wire are ordinary
// protobuf ReduceChunk messages; only the Go side differs from the stock codec:
// the payload is neither copied on marshalling (gRPC writes it straight from the
// sender's buffer, then returns that buffer to payloadPool) nor copied twice on
// unmarshalling (it is read once from the received frames into a pooled buffer).
const codecName = "asf-allreduce"

// chunkDataField is the field number of ReduceChunk.data.
const chunkDataField = 8

func init() { encoding.RegisterCodecV2(chunkCodec{}) }

// payloadPool recycles the payload buffers of the gRPC path. Unlike gRPC's
// pools it does not clear buffers: every payload is overwritten in full (by
// Encode or by reading a received chunk) before anyone reads it.
var payloadPool mem.BufferPool = &tieredPool{}

// tieredPool is a mem.BufferPool with one sync.Pool per power of two from
// 2^minTier to 2^maxTier bytes; larger requests are not pooled.
type tieredPool struct {
	tiers [maxTier + 1]sync.Pool
}

const (
	minTier = 12 // 4 KiB
	maxTier = 22 // 4 MiB >= MaxChunkBytes
)

func (p *tieredPool) Get(n int) *[]byte {
	k := max(bits.Len(uint(n-1)), minTier)
	if n <= 0 {
		k = minTier
	}
	if k > maxTier {
		b := make([]byte, n)
		return &b
	}
	if v, ok := p.tiers[k].Get().(*[]byte); ok {
		*v = (*v)[:n]
		return v
	}
	b := make([]byte, n, 1<<k)
	return &b
}

func (p *tieredPool) Put(b *[]byte) {
	c := cap(*b)
	k := bits.Len(uint(c)) - 1
	if c == 0 || c != 1<<k || k < minTier || k > maxTier {
		return
	}
	*b = (*b)[:0]
	p.tiers[k].Put(b)
}

// allocPayload returns a buffer of n bytes from payloadPool.
func allocPayload(n int) []byte { return *payloadPool.Get(n) }

// freePayload returns a buffer obtained from allocPayload (or any buffer nobody
// else uses) to payloadPool.
func freePayload(b []byte) {
	if cap(b) > 0 {
		payloadPool.Put(&b)
	}
}

// chunkCodec is the gRPC codec named codecName; messages other than ReduceChunk
// go to the stock protobuf codec.
type chunkCodec struct{}

func (chunkCodec) Name() string { return codecName }

func protoCodec() encoding.CodecV2 { return encoding.GetCodecV2("proto") }

// Marshal encodes every field but data with protobuf, then appends data's tag and
// length, and hands gRPC the payload itself as a second buffer, which gRPC frees
// (into payloadPool) once written.
func (chunkCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*asfpb.ReduceChunk)
	if !ok || len(m.Data) == 0 {
		return protoCodec().Marshal(v)
	}
	data := m.Data
	m.Data = nil
	hdr, err := proto.Marshal(m)
	m.Data = data
	if err != nil {
		return nil, err
	}
	hdr = protowire.AppendTag(hdr, chunkDataField, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(len(data)))
	return mem.BufferSlice{mem.SliceBuffer(hdr), mem.NewBuffer(&data, payloadPool)}, nil
}

// Unmarshal reads data's bytes once, from the received frames into a pooled
// buffer, and decodes the other (small) fields with protobuf.
func (chunkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*asfpb.ReduceChunk)
	if !ok {
		return protoCodec().Unmarshal(data, v)
	}
	r := data.Reader()
	defer r.Close()
	var (
		small   = make([]byte, 0, 128)
		payload []byte
	)
	fail := func(err error) error {
		freePayload(payload)
		return fmt.Errorf("allreduce: malformed ReduceChunk: %w", err)
	}
	for r.Remaining() > 0 {
		tag, err := readVarint(r)
		if err != nil {
			return fail(err)
		}
		num, typ := protowire.DecodeTag(tag)
		if num == chunkDataField && typ == protowire.BytesType {
			n, err := readVarint(r)
			if err != nil {
				return fail(err)
			}
			if n > uint64(r.Remaining()) {
				return fail(fmt.Errorf("data is %d bytes long, only %d remain", n, r.Remaining()))
			}
			freePayload(payload) // a repeated field: the last one wins
			payload = allocPayload(int(n))
			if _, err := io.ReadFull(r, payload); err != nil {
				return fail(err)
			}
			continue
		}
		small = protowire.AppendVarint(small, tag)
		var size uint64
		switch typ {
		case protowire.VarintType:
			x, err := readVarint(r)
			if err != nil {
				return fail(err)
			}
			small = protowire.AppendVarint(small, x)
			continue
		case protowire.Fixed32Type:
			size = 4
		case protowire.Fixed64Type:
			size = 8
		case protowire.BytesType:
			if size, err = readVarint(r); err != nil {
				return fail(err)
			}
			small = protowire.AppendVarint(small, size)
		default:
			return fail(fmt.Errorf("field %d has unsupported wire type %d", num, typ))
		}
		if size > uint64(r.Remaining()) {
			return fail(fmt.Errorf("field %d is %d bytes long, only %d remain", num, size, r.Remaining()))
		}
		at := len(small)
		small = append(small, make([]byte, size)...)
		if _, err := io.ReadFull(r, small[at:]); err != nil {
			return fail(err)
		}
	}
	if err := proto.Unmarshal(small, m); err != nil {
		return fail(err)
	}
	m.Data = payload
	return nil
}

// readVarint reads a protobuf varint.
func readVarint(r io.ByteReader) (uint64, error) {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if shift == 63 && b > 1 {
			return 0, errors.New("varint overflows 64 bits") // as protobuf: the 10th byte holds one bit
		}
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x, nil
		}
	}
	return 0, errors.New("varint longer than 10 bytes")
}
