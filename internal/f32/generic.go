package f32

// The portable kernels. They are the only path on architectures other than
// amd64 and the reference the assembly is tested against. Products are
// converted to float32 explicitly: the conversion forbids the compiler from
// fusing them into a multiply-add, so these kernels round the same way on
// every architecture and GOAMD64 level.

// addToGo computes dst[i] += src[i]; len(src) == len(dst).
func addToGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// axpyGo computes y[i] += alpha*x[i] with a separately rounded product;
// len(x) == len(y).
func axpyGo(alpha float32, x, y []float32) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] += float32(alpha * v)
	}
}

// scaleGo computes x[i] *= alpha.
func scaleGo(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// addConstGo computes x[i] += c.
func addConstGo(x []float32, c float32) {
	for i := range x {
		x[i] += c
	}
}

// dotGo returns the dot product of x and y in the documented order (32
// partial sums, then a pairwise reduction), with separately rounded products;
// len(x) == len(y).
func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s [32]float32
	i := 0
	for ; i+32 <= len(x); i += 32 {
		xb := (*[32]float32)(x[i:])
		yb := (*[32]float32)(y[i:])
		for k := range s {
			s[k] += float32(xb[k] * yb[k])
		}
	}
	for k := range x[i:] {
		s[k] += float32(x[i+k] * y[i+k])
	}
	return reduce32(&s)
}

// dotRowsGo sets dst[i] to dotGo of the row idx[i] with v, one row at a time;
// the indices have been checked.
func dotRowsGo(dst, rows []float32, stride int, idx []int32, v []float32) {
	dst = dst[:len(idx)]
	for i, j := range idx {
		off := int(j) * stride
		dst[i] = dotGo(rows[off:off+len(v)], v)
	}
}

// reduce32 sums 32 partial sums in the documented pairwise order.
func reduce32(s *[32]float32) float32 {
	var v [8]float32
	for k := range v {
		v[k] = (s[k] + s[k+16]) + (s[k+8] + s[k+24])
	}
	w0 := v[0] + v[4]
	w1 := v[1] + v[5]
	w2 := v[2] + v[6]
	w3 := v[3] + v[7]
	return (w0 + w2) + (w1 + w3)
}

// indexAddRowsGo adds rows[j*stride:][:len(dst)] to dst for each j of idx,
// one row at a time; the indices have been checked.
func indexAddRowsGo(dst, rows []float32, stride int, idx []int32) {
	for _, j := range idx {
		off := int(j) * stride
		row := rows[off : off+len(dst)]
		dst := dst[:len(row)]
		for i, v := range row {
			dst[i] += v
		}
	}
}

// neuronStepGo is NeuronStep written out; len(V), len(FI), len(FO) >= len(I).
func neuronStepGo(I, V, FI, FO []float32, vth, leak float32, subtract bool, out []int32) []int32 {
	V, FI, FO = V[:len(I)], FI[:len(I)], FO[:len(I)]
	for k, i := range I {
		FI[k] += i
		v := V[k] + i
		I[k] = 0
		if v > vth {
			FO[k] += 1
			out = append(out, int32(k))
			if subtract {
				v -= vth
			} else {
				v = 0
			}
		}
		V[k] = v * leak
	}
	return out
}
