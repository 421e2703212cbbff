package allreduce

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Packed is the exact fixed-point codec with fewer bytes: the same int64 sums
// as Int64, bit for bit (so the result is as independent of the ring order
// and of the worker count), sent in blocks of PackedBlock elements, each
// block a width byte w (0..8) followed by its elements as w-byte
// little-endian two's complement. w is the fewest bytes that hold every
// element of the block, so a block of zeros costs one byte, and a gradient
// quantised at 2^32 whose elements are mostly below 2^31 costs about four
// bytes per element instead of eight. Every peer re-encodes the partial sums
// it forwards, with the widths they need: a sum that grows gets wider, never
// truncated.
var Packed Codec[int64] = packedCodec{}

// PackedBlock is the number of elements that share a width byte in Packed.
const PackedBlock = 16

// varCodec is implemented by codecs whose encoding of a chunk has a length
// that depends on the values. The ring gives them buffers of MaxLen bytes and
// sends what they wrote.
type varCodec[T any] interface {
	// MaxLen is the longest encoding of n elements.
	MaxLen(n int) int
	// EncodeVar writes src into wire (MaxLen(len(src)) bytes) and returns the
	// length written.
	EncodeVar(wire []byte, src []T) int
	// DecodeVar sets dst to the elements in wire, failing with ErrMismatch if
	// wire is not an encoding of len(dst) elements.
	DecodeVar(dst []T, wire []byte) error
	// AccumulateVar performs acc += in and writes the new acc into out
	// (MaxLen(len(acc)) bytes), returning the length written. It fails with
	// ErrMismatch for a malformed in, ErrOverflow for a sum outside T's range.
	AccumulateVar(acc []T, in, out []byte) (int, error)
}

type packedCodec struct{}

func (packedCodec) Name() string { return "packed64" }

// Size is the size of an element in memory; the ring cuts chunks by it.
func (packedCodec) Size() int { return 8 }

func (packedCodec) MaxLen(n int) int { return n*8 + (n+PackedBlock-1)/PackedBlock }

// Encode, Decode and Accumulate make packedCodec a Codec; the ring uses the
// variable-length methods instead. They are the Int64 codec's fixed layout.
func (packedCodec) Encode(wire []byte, src []int64)           { Int64.Encode(wire, src) }
func (packedCodec) Decode(dst []int64, wire []byte)           { Int64.Decode(dst, wire) }
func (packedCodec) Accumulate(acc []int64, wire []byte) error { return Int64.Accumulate(acc, wire) }

// widthOf returns the bytes that hold every element of vs in two's complement.
func widthOf(vs []int64) int {
	var m uint64
	var any int64
	for _, v := range vs {
		m |= uint64(v ^ (v >> 63)) // |v| for v >= 0, |v|-1 for v < 0: the magnitude bits
		any |= v
	}
	return widthFor(m, any)
}

// widthFor is the width of a block whose magnitude bits OR to m and whose
// values OR to any: 0 for zeros only, else the magnitude bits and a sign bit
// in whole bytes.
func widthFor(m uint64, any int64) int {
	if any == 0 {
		return 0
	}
	return (bits.Len64(m) + 8) / 8
}

func (c packedCodec) EncodeVar(wire []byte, src []int64) int {
	wire = wire[:c.MaxLen(len(src))]
	pos := 0
	for lo := 0; lo < len(src); lo += PackedBlock {
		blk := src[lo:min(lo+PackedBlock, len(src))]
		w := widthOf(blk)
		wire[pos] = byte(w)
		pos++
		pos = putWidth(wire, pos, blk, w)
	}
	return pos
}

// putWidth writes vs at w bytes each from wire[pos:] and returns the end.
func putWidth(wire []byte, pos int, vs []int64, w int) int {
	switch w {
	case 0:
		return pos
	case 8:
		for _, v := range vs {
			binary.LittleEndian.PutUint64(wire[pos:], uint64(v))
			pos += 8
		}
		return pos
	}
	if len(wire)-pos >= 8*len(vs) {
		// Every 8-byte store stays inside wire; each overwrites the excess
		// of the previous one.
		dst := wire[pos : pos+8*len(vs)]
		for i, v := range vs {
			binary.LittleEndian.PutUint64(dst[i*w:], uint64(v))
		}
		return pos + w*len(vs)
	}
	for _, v := range vs {
		if len(wire)-pos >= 8 {
			// Write all 8 bytes; the next element overwrites the excess.
			binary.LittleEndian.PutUint64(wire[pos:], uint64(v))
		} else {
			var tmp [8]byte
			binary.LittleEndian.PutUint64(tmp[:], uint64(v))
			copy(wire[pos:pos+w], tmp[:w])
		}
		pos += w
	}
	return pos
}

// getWidth reads len(dst) elements of w bytes from wire[pos:] (which must
// hold them) into dst, sign-extended, and returns the end. add says whether to
// add them to dst instead; it reports an overflow of an addition.
func getWidth(dst []int64, wire []byte, pos, w int, add bool) (int, bool) {
	var ovf int64
	shift := uint(64 - 8*w)
	for i := range dst {
		var v int64
		switch {
		case w == 0:
		case len(wire)-pos >= 8:
			v = int64(binary.LittleEndian.Uint64(wire[pos:])<<shift) >> shift
		default:
			var tmp [8]byte
			copy(tmp[:], wire[pos:pos+w])
			v = int64(binary.LittleEndian.Uint64(tmp[:])<<shift) >> shift
		}
		pos += w
		if add {
			a := dst[i]
			s := a + v
			ovf |= (a ^ s) & (v ^ s)
			dst[i] = s
		} else {
			dst[i] = v
		}
	}
	return pos, ovf < 0
}

// walk decodes wire block by block into dst (adding if add), failing with
// ErrMismatch if it is not an encoding of len(dst) elements.
func (c packedCodec) walk(dst []int64, wire []byte, add bool) error {
	pos := 0
	overflow := false
	for lo := 0; lo < len(dst); lo += PackedBlock {
		blk := dst[lo:min(lo+PackedBlock, len(dst))]
		if pos >= len(wire) {
			return fmt.Errorf("%w: packed chunk of %d bytes ends before element %d of %d", ErrMismatch, len(wire), lo, len(dst))
		}
		w := int(wire[pos])
		pos++
		if w > 8 {
			return fmt.Errorf("%w: packed block at byte %d has width %d, want 0..8", ErrMismatch, pos-1, w)
		}
		if len(wire)-pos < w*len(blk) {
			return fmt.Errorf("%w: packed chunk of %d bytes ends inside block %d (width %d)", ErrMismatch, len(wire), lo/PackedBlock, w)
		}
		var o bool
		pos, o = getWidth(blk, wire, pos, w, add)
		overflow = overflow || o
	}
	if pos != len(wire) {
		return fmt.Errorf("%w: packed chunk of %d elements has %d bytes after its last block", ErrMismatch, len(dst), len(wire)-pos)
	}
	if overflow {
		return fmt.Errorf("%w: a sum of %d elements left the int64 range", ErrOverflow, len(dst))
	}
	return nil
}

func (c packedCodec) DecodeVar(dst []int64, wire []byte) error { return c.walk(dst, wire, false) }

// AccumulateVar decodes, adds and re-encodes block by block in one pass.
func (c packedCodec) AccumulateVar(acc []int64, in, out []byte) (int, error) {
	out = out[:c.MaxLen(len(acc))]
	pos, opos := 0, 0
	var ovf int64
	for lo := 0; lo < len(acc); lo += PackedBlock {
		blk := acc[lo:min(lo+PackedBlock, len(acc))]
		if pos >= len(in) {
			return 0, fmt.Errorf("%w: packed chunk of %d bytes ends before element %d of %d", ErrMismatch, len(in), lo, len(acc))
		}
		w := int(in[pos])
		pos++
		if w > 8 {
			return 0, fmt.Errorf("%w: packed block at byte %d has width %d, want 0..8", ErrMismatch, pos-1, w)
		}
		if len(in)-pos < w*len(blk) {
			return 0, fmt.Errorf("%w: packed chunk of %d bytes ends inside block %d (width %d)", ErrMismatch, len(in), lo/PackedBlock, w)
		}
		var m uint64
		var any int64
		switch {
		case w == 0:
			for _, v := range blk {
				m |= uint64(v ^ (v >> 63))
				any |= v
			}
		case len(in)-pos >= 8*len(blk):
			// Fast path: every 8-byte load stays inside in.
			shift := uint(64 - 8*w)
			src := in[pos : pos+8*len(blk)]
			for i := range blk {
				v := int64(binary.LittleEndian.Uint64(src[i*w:])<<shift) >> shift
				a := blk[i]
				s := a + v
				ovf |= (a ^ s) & (v ^ s)
				blk[i] = s
				m |= uint64(s ^ (s >> 63))
				any |= s
			}
		default:
			shift := uint(64 - 8*w)
			for i := range blk {
				var tmp [8]byte
				copy(tmp[:], in[pos+i*w:pos+i*w+w])
				v := int64(binary.LittleEndian.Uint64(tmp[:])<<shift) >> shift
				a := blk[i]
				s := a + v
				ovf |= (a ^ s) & (v ^ s)
				blk[i] = s
				m |= uint64(s ^ (s >> 63))
				any |= s
			}
		}
		pos += w * len(blk)
		ow := widthFor(m, any)
		out[opos] = byte(ow)
		opos = putWidth(out, opos+1, blk, ow)
	}
	if pos != len(in) {
		return 0, fmt.Errorf("%w: packed chunk of %d elements has %d bytes after its last block", ErrMismatch, len(acc), len(in)-pos)
	}
	if ovf < 0 {
		return 0, fmt.Errorf("%w: a sum of %d elements left the int64 range", ErrOverflow, len(acc))
	}
	return opos, nil
}
