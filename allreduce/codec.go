package allreduce

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Codec puts elements of type T on the wire (little-endian, Size bytes each) and
// sums them. The ring calls it once per chunk; the slices passed have matching
// lengths: len(wire) == Size()*len(acc).
type Codec[T any] interface {
	// Name identifies the codec; every peer of a ring must use the same one.
	Name() string
	// Size is the number of bytes of one element on the wire.
	Size() int
	// Encode writes src into wire.
	Encode(wire []byte, src []T)
	// Decode sets dst to the elements in wire.
	Decode(dst []T, wire []byte)
	// Accumulate performs acc += wire and then wire = acc, elementwise, so that
	// the updated partial sum can be forwarded as is. It fails with an error
	// wrapping ErrOverflow if a sum leaves T's exact range; acc and wire are then
	// undefined.
	Accumulate(acc []T, wire []byte) error
}

// Int64 is the fixed-point codec, the deterministic default: sums of int64 are
// exact, so the result is bitwise independent of the ring order and of how the
// inputs were grouped. A partial sum outside the int64 range fails with
// ErrOverflow. If the sum of the absolute values of every peer's element fits in
// int64, no partial sum can overflow, in any order.
var Int64 Codec[int64] = int64Codec{}

// Float32 is the fast codec: IEEE-754 single-precision sums. Every peer gets the
// same bits (each segment is summed once, in ring order, then copied), but the
// bits depend on the ring order and the grouping of the inputs.
var Float32 Codec[float32] = float32Codec{}

type int64Codec struct{}

func (int64Codec) Name() string { return "int64" }
func (int64Codec) Size() int    { return 8 }

func (int64Codec) Encode(wire []byte, src []int64) {
	wire = wire[:8*len(src)]
	if b := asBytes(src); b != nil {
		copy(wire, b)
		return
	}
	for i, v := range src {
		binary.LittleEndian.PutUint64(wire[8*i:], uint64(v))
	}
}

func (int64Codec) Decode(dst []int64, wire []byte) {
	wire = wire[:8*len(dst)]
	if b := asBytes(dst); b != nil {
		copy(b, wire)
		return
	}
	for i := range dst {
		dst[i] = int64(binary.LittleEndian.Uint64(wire[8*i:]))
	}
}

func (int64Codec) Accumulate(acc []int64, wire []byte) error {
	wire = wire[:8*len(acc)]
	// ovf collects the sign bit of (a^s)&(w^s), which is set exactly when a+w
	// overflowed (both operands have the same sign and the sum has the other).
	var ovf int64
	if ws := alignedInt64s(wire); ws != nil {
		ws = ws[:len(acc)]
		for i, a := range acc {
			w := ws[i]
			s := a + w
			ovf |= (a ^ s) & (w ^ s)
			acc[i] = s
			ws[i] = s
		}
	} else {
		for i, a := range acc {
			w := int64(binary.LittleEndian.Uint64(wire[8*i:]))
			s := a + w
			ovf |= (a ^ s) & (w ^ s)
			acc[i] = s
			binary.LittleEndian.PutUint64(wire[8*i:], uint64(s))
		}
	}
	if ovf < 0 {
		return fmt.Errorf("%w: a sum of %d elements left the int64 range", ErrOverflow, len(acc))
	}
	return nil
}

type float32Codec struct{}

func (float32Codec) Name() string { return "float32" }
func (float32Codec) Size() int    { return 4 }

func (float32Codec) Encode(wire []byte, src []float32) {
	wire = wire[:4*len(src)]
	if b := asBytes(src); b != nil {
		copy(wire, b)
		return
	}
	for i, v := range src {
		binary.LittleEndian.PutUint32(wire[4*i:], math.Float32bits(v))
	}
}

func (float32Codec) Decode(dst []float32, wire []byte) {
	wire = wire[:4*len(dst)]
	if b := asBytes(dst); b != nil {
		copy(b, wire)
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(wire[4*i:]))
	}
}

func (float32Codec) Accumulate(acc []float32, wire []byte) error {
	wire = wire[:4*len(acc)]
	if ws := alignedFloat32s(wire); ws != nil {
		ws = ws[:len(acc)]
		for i, a := range acc {
			s := a + ws[i]
			acc[i] = s
			ws[i] = s
		}
		return nil
	}
	for i, a := range acc {
		s := a + math.Float32frombits(binary.LittleEndian.Uint32(wire[4*i:]))
		acc[i] = s
		binary.LittleEndian.PutUint32(wire[4*i:], math.Float32bits(s))
	}
	return nil
}
