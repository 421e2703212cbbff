//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package allreduce

import "unsafe"

// asBytes returns the memory of s as bytes. On little-endian machines that is
// already the wire encoding, so Encode and Decode are plain copies.
func asBytes[T int64 | float32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}

// alignedInt64s returns b as int64s if b is 8-byte aligned, else nil.
func alignedInt64s(b []byte) []int64 {
	if len(b) < 8 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%8 != 0 {
		return nil
	}
	return unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/8)
}

// alignedFloat32s returns b as float32s if b is 4-byte aligned, else nil.
func alignedFloat32s(b []byte) []float32 {
	if len(b) < 4 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}
