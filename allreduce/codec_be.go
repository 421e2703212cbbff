//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package allreduce

// asBytes returns nil on big-endian machines (and machines not known to be
// little-endian): Encode and Decode then convert element by element.
func asBytes[T int64 | float32](s []T) []byte { return nil }

// alignedInt64s and alignedFloat32s return nil here: the wire is little-endian.
func alignedInt64s(b []byte) []int64     { return nil }
func alignedFloat32s(b []byte) []float32 { return nil }
