package engine

import "fmt"

// Tensor is a named float32 array in row-major order.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// ExportWeights returns the weights of m in the standard (PyTorch) layouts: conv
// weights [cout][cin][ky][kx], FC weights [out][in] with spatial inputs flattened in
// CHW order. Names are "<layer>.weight", e.g. "conv1.weight", "fc5.weight".
func (m *Model) ExportWeights() []Tensor { return m.Net.ToStandard(m.Params, "weight") }

// ImportWeights sets the weights of m from tensors in the layouts ExportWeights
// writes, matched by name; every weighted layer must be present with its shape.
func (m *Model) ImportWeights(ts []Tensor) error { return m.Net.FromStandard(ts, "weight", m.Params) }

// ToStandard converts a flat per-parameter vector in the internal layout (weights,
// gradients, optimizer moments) to one tensor per weighted layer in the standard
// layouts, named "<layer>.<suffix>". It only permutes: values are bitwise kept.
func (n *Net) ToStandard(flat []float32, suffix string) []Tensor {
	var out []Tensor
	for _, l := range n.Layers {
		if l.WLen == 0 {
			continue
		}
		nw := l.WLen - l.BLen
		w := flat[l.WOff : l.WOff+nw]
		std := make([]float32, nw)
		var shape []int
		switch l.Kind {
		case Conv:
			ci, co, k := l.In.C, l.Out.C, l.K
			shape = []int{co, ci, k, k}
			for c := 0; c < ci; c++ {
				for ky := 0; ky < k; ky++ {
					for j := 0; j < k; j++ {
						kx := k - 1 - j
						for o := 0; o < co; o++ {
							std[((o*ci+c)*k+ky)*k+kx] = w[((c*k+ky)*k+j)*co+o]
						}
					}
				}
			}
		case FC:
			in, outN := l.In.Size(), l.Out.C
			shape = []int{outN, in}
			for e := 0; e < in; e++ {
				s := hwcToCHW(l.In, e)
				for o := 0; o < outN; o++ {
					std[o*in+s] = w[e*outN+o]
				}
			}
		}
		out = append(out, Tensor{Name: l.Name() + "." + suffix, Shape: shape, Data: std})
		if l.BLen > 0 {
			b := append([]float32(nil), flat[l.WOff+nw:l.WOff+l.WLen]...)
			out = append(out, Tensor{Name: l.Name() + "." + biasName(suffix), Shape: []int{l.BLen}, Data: b})
		}
	}
	return out
}

// biasName is the tensor name suffix of a layer's biases beside the weights'
// suffix: "bias" beside "weight" (PyTorch's names), "<suffix>_bias" otherwise
// (optimizer slots: "m_bias").
func biasName(suffix string) string {
	if suffix == "weight" {
		return "bias"
	}
	return suffix + "_bias"
}

// FromStandard is the inverse of ToStandard: it fills flat (len NParams) from the
// tensors named "<layer>.<suffix>"; every weighted layer must be present with its
// shape.
func (n *Net) FromStandard(ts []Tensor, suffix string, flat []float32) error {
	if len(flat) != n.NParams {
		return fmt.Errorf("%w: vector of %d values for %d parameters", ErrShape, len(flat), n.NParams)
	}
	byName := map[string]Tensor{}
	for _, t := range ts {
		byName[t.Name] = t
	}
	for li, l := range n.Layers {
		if l.WLen == 0 {
			continue
		}
		name := l.Name() + "." + suffix
		t, ok := byName[name]
		if !ok {
			return fmt.Errorf("%w: no tensor %q for layer %d (%s)", ErrShape, name, li+1, l.Text)
		}
		nw := l.WLen - l.BLen
		if len(t.Data) != nw {
			return fmt.Errorf("%w: tensor %q has %d values (shape %v); layer %s needs %d", ErrShape, name, len(t.Data), t.Shape, l.Text, nw)
		}
		if l.BLen > 0 {
			bn := l.Name() + "." + biasName(suffix)
			bt, ok := byName[bn]
			if !ok {
				return fmt.Errorf("%w: no tensor %q for layer %d (%s), which has a bias", ErrShape, bn, li+1, l.Text)
			}
			if !sameShape(bt.Shape, l.BLen) || len(bt.Data) != l.BLen {
				return fmt.Errorf("%w: tensor %q has shape %v; want [%d]", ErrShape, bn, bt.Shape, l.BLen)
			}
			copy(flat[l.WOff+nw:l.WOff+l.WLen], bt.Data)
		}
		w := flat[l.WOff : l.WOff+nw]
		switch l.Kind {
		case Conv:
			ci, co, k := l.In.C, l.Out.C, l.K
			if !sameShape(t.Shape, co, ci, k, k) {
				return fmt.Errorf("%w: tensor %q has shape %v; want [%d %d %d %d]", ErrShape, name, t.Shape, co, ci, k, k)
			}
			for c := 0; c < ci; c++ {
				for ky := 0; ky < k; ky++ {
					for j := 0; j < k; j++ {
						kx := k - 1 - j
						for o := 0; o < co; o++ {
							w[((c*k+ky)*k+j)*co+o] = t.Data[((o*ci+c)*k+ky)*k+kx]
						}
					}
				}
			}
		case FC:
			in, outN := l.In.Size(), l.Out.C
			if !sameShape(t.Shape, outN, in) {
				return fmt.Errorf("%w: tensor %q has shape %v; want [%d %d]", ErrShape, name, t.Shape, outN, in)
			}
			for e := 0; e < in; e++ {
				s := hwcToCHW(l.In, e)
				for o := 0; o < outN; o++ {
					w[e*outN+o] = t.Data[o*in+s]
				}
			}
		}
	}
	return nil
}

func sameShape(got []int, want ...int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// hwcToCHW maps a flat HWC index of shape s to its flat CHW index.
func hwcToCHW(s Shape, e int) int {
	c := e % s.C
	r := e / s.C // y*W + x
	return c*s.H*s.W + r
}
