// Package fmacanary is built by TestNoFusedMultiplyAdd to prove that its scan
// finds fused multiply-adds: the compiler fuses this on arm64 and with
// GOAMD64=v3.
package fmacanary

// MulAdd returns x*y + z, free to be fused.
func MulAdd(x, y, z float64) float64 { return x*y + z }
