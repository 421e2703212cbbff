package checkpoint

import (
	"slices"
	"testing"
)

// TestDescribeSpecStridePaddingBias covers the conv suffixes sS, pP and b and
// the FC suffix b of the spec notation.
func TestDescribeSpecStridePaddingBias(t *testing.T) {
	w := func(name string, shape ...int) Tensor { return Tensor{Name: name, Shape: shape} }
	got := describeSpec("4C3s2p0b-P2-5FCb-3FC", []Tensor{
		w("conv1.weight", 4, 1, 3, 3), w("conv1.bias", 4), w("fc3.weight", 5, 16), w("fc3.bias", 5), w("fc4.weight", 3, 5),
	})
	want := []ModelLayer{
		{Token: "4C3s2p0b", Op: "conv", Out: 4, Kernel: 3, Stride: 2, Padding: 0, Weight: "conv1.weight", Bias: "conv1.bias", Spiking: true},
		{Token: "P2", Op: "avgpool", Kernel: 2, Stride: 2, Spiking: true},
		{Token: "5FCb", Op: "fc", Out: 5, Weight: "fc3.weight", Bias: "fc3.bias", Spiking: true},
		{Token: "3FC", Op: "fc", Out: 3, Weight: "fc4.weight", Output: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("layers\n%+v\nwant\n%+v", got, want)
	}
}
