package fmacanary

// mulAdd32 is x*y + z with one rounding, in assembly.
func mulAdd32(x, y, z float32) float32

// MulAdd32 returns mulAdd32(x, y, z).
func MulAdd32(x, y, z float32) float32 { return mulAdd32(x, y, z) }
