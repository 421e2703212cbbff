// Package detmath provides the elementary functions whose results feed the
// training state (the weight initialisation's Box-Muller transform, the
// softmax of the loss statistics) with bits that do not depend on the
// platform.
//
// The standard library's math.Log and math.Exp are assembly on amd64 (and
// Exp on arm64), pure Go elsewhere, and the pure Go code of math.Sin and
// math.Cos is compiled with fused multiply-adds wherever the compiler may use
// them (arm64, amd64 with GOAMD64=v3): the last bits differ between builds.
// The functions here are the same algorithms as the pure Go code of the
// standard library (from FreeBSD's msun and Cephes, by way of Go's math
// package, BSD licence), written so that every product is rounded before it
// is added: each is an explicit float64 conversion, which the Go
// specification says prevents fusion. They use only IEEE-754 double
// precision addition, subtraction, multiplication and division and integer
// operations, so every build and CPU computes the same bits. Their accuracy
// is that of the pure Go code (about 1 ulp).
//
// The package's tests pin a digest of the results on a few hundred thousand
// arguments; the CI matrix runs them in every build it checks.
package detmath

import (
	"math"
	"math/bits"
)

// Log returns the natural logarithm of x.
//
// Special cases: Log(+Inf) = +Inf, Log(0) = -Inf, Log(x < 0) = NaN,
// Log(NaN) = NaN.
func Log(x float64) float64 {
	const (
		Ln2Hi = 6.93147180369123816490e-01 /* 3fe62e42 fee00000 */
		Ln2Lo = 1.90821492927058770002e-10 /* 3dea39ef 35793c76 */
		L1    = 6.666666666666735130e-01   /* 3FE55555 55555593 */
		L2    = 3.999999999940941908e-01   /* 3FD99999 9997FA04 */
		L3    = 2.857142874366239149e-01   /* 3FD24924 94229359 */
		L4    = 2.222219843214978396e-01   /* 3FCC71C5 1D8E78AF */
		L5    = 1.818357216161805012e-01   /* 3FC74664 96CB03DE */
		L6    = 1.531383769920937332e-01   /* 3FC39A09 D078C69F */
		L7    = 1.479819860511658591e-01   /* 3FC2F112 DF3E5244 */
	)
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return x
	case x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	}
	// x = f1 * 2^ki with f1 in [sqrt(2)/2, sqrt(2)).
	f1, ki := math.Frexp(x)
	if f1 < math.Sqrt2/2 {
		f1 *= 2
		ki--
	}
	f := f1 - 1
	k := float64(ki)

	s := f / (2 + f)
	s2 := float64(s * s)
	s4 := float64(s2 * s2)
	t1 := float64(s2 * (L1 + float64(s4*(L3+float64(s4*(L5+float64(s4*L7)))))))
	t2 := float64(s4 * (L2 + float64(s4*(L4+float64(s4*L6)))))
	R := t1 + t2
	hfsq := float64(0.5 * f * f)
	return float64(k*Ln2Hi) - ((hfsq - (float64(s*(hfsq+R)) + float64(k*Ln2Lo))) - f)
}

// Exp returns e**x.
//
// Special cases: Exp(+Inf) = +Inf, Exp(NaN) = NaN; very large arguments
// overflow to +Inf, very small ones underflow to 0.
func Exp(x float64) float64 {
	const (
		Ln2Hi = 6.93147180369123816490e-01
		Ln2Lo = 1.90821492927058770002e-10
		Log2e = 1.44269504088896338700e+00

		Overflow  = 7.09782712893383973096e+02
		Underflow = -7.45133219101941108420e+02
		NearZero  = 1.0 / (1 << 28) // 2**-28
	)
	switch {
	case math.IsNaN(x):
		return x
	case x > Overflow: // also +Inf
		return math.Inf(1)
	case x < Underflow: // also -Inf
		return 0
	case -NearZero < x && x < NearZero:
		return 1 + x
	}
	// x = k*ln2 + r with |r| <= ln2/2, r computed as hi - lo.
	var k int
	switch {
	case x < 0:
		k = int(float64(Log2e*x) - 0.5)
	case x > 0:
		k = int(float64(Log2e*x) + 0.5)
	}
	hi := x - float64(float64(k)*Ln2Hi)
	lo := float64(float64(k) * Ln2Lo)

	const (
		P1 = 1.66666666666666657415e-01  /* 0x3FC55555; 0x55555555 */
		P2 = -2.77777777770155933842e-03 /* 0xBF66C16C; 0x16BEBD93 */
		P3 = 6.61375632143793436117e-05  /* 0x3F11566A; 0xAF25DE2C */
		P4 = -1.65339022054652515390e-06 /* 0xBEBBBD41; 0xC5D26BF1 */
		P5 = 4.13813679705723846039e-08  /* 0x3E663769; 0x72BEA4D0 */
	)
	r := hi - lo
	t := float64(r * r)
	c := r - float64(t*(P1+float64(t*(P2+float64(t*(P3+float64(t*(P4+float64(t*P5)))))))))
	y := 1 - ((lo - float64(r*c)/(2-c)) - hi)
	return math.Ldexp(y, k)
}

// The Cody-Waite reduction of Sin and Cos: Pi/4 in three parts, the first two
// with enough trailing zeros that y*PI4A and y*PI4B are exact for the
// arguments below reduceThreshold; larger ones go through trigReduce.
const (
	pi4A            = 7.85398125648498535156e-1  // 0x3fe921fb40000000
	pi4B            = 3.77489470793079817668e-8  // 0x3e64442d00000000
	pi4C            = 2.69515142907905952645e-15 // 0x3ce8469898cc5170
	reduceThreshold = 1 << 29
)

var sinCoef = [...]float64{
	1.58962301576546568060e-10, // 0x3de5d8fd1fd19ccd
	-2.50507477628578072866e-8, // 0xbe5ae5e5a9291f5d
	2.75573136213857245213e-6,  // 0x3ec71de3567d48a1
	-1.98412698295895385996e-4, // 0xbf2a01a019bfdf03
	8.33333333332211858878e-3,  // 0x3f8111111110f7d0
	-1.66666666666666307295e-1, // 0xbfc5555555555548
}

var cosCoef = [...]float64{
	-1.13585365213876817300e-11, // 0xbda8fa49a0861a9b
	2.08757008419747316778e-9,   // 0x3e21ee9d7b4e3f05
	-2.75573141792967388112e-7,  // 0xbe927e4f7eac4bc6
	2.48015872888517045348e-5,   // 0x3efa01a019c844f5
	-1.38888888888730564116e-3,  // 0xbf56c16c16c14f91
	4.16666666666665929218e-2,   // 0x3fa555555555554b
}

// octant reduces x >= 0 to z in [-Pi/4, Pi/4] and the octant j in [0, 8)
// such that x = j*Pi/4 + z (mod 2 Pi), j even.
func octant(x float64) (j uint64, z float64) {
	if x >= reduceThreshold {
		return trigReduce(x)
	}
	j = uint64(x * (4 / math.Pi)) // the integer part of x/(Pi/4)
	y := float64(j)
	if j&1 == 1 { // map zeros to the origin
		j++
		y++
	}
	j &= 7
	z = ((x - float64(y*pi4A)) - float64(y*pi4B)) - float64(y*pi4C)
	return j, z
}

// sinPoly and cosPoly approximate sin and cos on [-Pi/4, Pi/4], zz = z*z.
func sinPoly(z, zz float64) float64 {
	return z + float64(float64(z*zz)*horner(&sinCoef, zz))
}

func cosPoly(zz float64) float64 {
	return 1.0 - float64(0.5*zz) + float64(float64(zz*zz)*horner(&cosCoef, zz))
}

// horner evaluates c[0]*x^5 + c[1]*x^4 + ... + c[5], each product rounded.
func horner(c *[6]float64, x float64) float64 {
	p := c[0]
	for _, ci := range c[1:] {
		p = float64(p*x) + ci
	}
	return p
}

// Sin returns the sine of the radian argument x.
//
// Special cases: Sin(±0) = ±0, Sin(±Inf) = NaN, Sin(NaN) = NaN.
func Sin(x float64) float64 {
	switch {
	case x == 0 || math.IsNaN(x):
		return x
	case math.IsInf(x, 0):
		return math.NaN()
	}
	sign := false
	if x < 0 {
		x, sign = -x, true
	}
	j, z := octant(x)
	if j > 3 { // reflect in the x axis
		sign = !sign
		j -= 4
	}
	zz := float64(z * z)
	var y float64
	if j == 1 || j == 2 {
		y = cosPoly(zz)
	} else {
		y = sinPoly(z, zz)
	}
	if sign {
		y = -y
	}
	return y
}

// Cos returns the cosine of the radian argument x.
//
// Special cases: Cos(±Inf) = NaN, Cos(NaN) = NaN.
func Cos(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return math.NaN()
	}
	j, z := octant(math.Abs(x))
	sign := false
	if j > 3 {
		j -= 4
		sign = !sign
	}
	if j > 1 {
		sign = !sign
	}
	zz := float64(z * z)
	var y float64
	if j == 1 || j == 2 {
		y = sinPoly(z, zz)
	} else {
		y = cosPoly(zz)
	}
	if sign {
		y = -y
	}
	return y
}

// mPi4 is the binary expansion of 4/Pi, for the Payne-Hanek reduction.
var mPi4 = [...]uint64{
	0x0000000000000001,
	0x45f306dc9c882a53,
	0xf84eafa3ea69bb81,
	0xb6c52b3278872083,
	0xfca2c757bd778ac3,
	0x6e48dc74849ba5c0,
	0x0c925dd413a32439,
	0xfc3bd63962534e7d,
	0xd1046bea5d768909,
	0xd338e04d68befc82,
	0x7323ac7306a673e9,
	0x3908bf177bf25076,
	0x3ff12fffbc0b301f,
	0xde5e2316b414da3e,
	0xda6cfd9e4f96136e,
	0x9e8c7ecd3cbfd45a,
	0xea4f758fd7cbe2f6,
	0x7a0e73ef14a525d4,
	0xd7f6bf623f1aba10,
	0xac06608df8f6d757,
}

// trigReduce is the Payne-Hanek reduction of x >= Pi/4: x = j*Pi/4 + z with
// z in [-Pi/4, Pi/4] and j even, in integer arithmetic.
func trigReduce(x float64) (j uint64, z float64) {
	const (
		shift = 52
		mask  = 0x7ff
		bias  = 1023
	)
	if x < math.Pi/4 {
		return 0, x
	}
	// x = ix * 2**exp.
	ix := math.Float64bits(x)
	exp := int(ix>>shift&mask) - bias - shift
	ix &^= mask << shift
	ix |= 1 << shift
	// The three 64-bit digits of 4/Pi whose product with ix has its leading
	// digit at 2**-61.
	digit, bitshift := uint(exp+61)/64, uint(exp+61)%64
	z0 := (mPi4[digit] << bitshift) | (mPi4[digit+1] >> (64 - bitshift))
	z1 := (mPi4[digit+1] << bitshift) | (mPi4[digit+2] >> (64 - bitshift))
	z2 := (mPi4[digit+2] << bitshift) | (mPi4[digit+3] >> (64 - bitshift))
	z2hi, _ := bits.Mul64(z2, ix)
	z1hi, z1lo := bits.Mul64(z1, ix)
	z0lo := z0 * ix
	lo, c := bits.Add64(z1lo, z2hi, 0)
	hi, _ := bits.Add64(z0lo, z1hi, c)
	j = hi >> 61 // the top 3 bits
	hi = hi<<3 | lo>>61
	lz := uint(bits.LeadingZeros64(hi))
	e := uint64(bias - (lz + 1))
	hi = (hi << (lz + 1)) | (lo >> (64 - (lz + 1)))
	hi >>= 64 - shift
	hi |= e << shift
	z = math.Float64frombits(hi)
	if j&1 == 1 { // map zeros to the origin
		j++
		j &= 7
		z--
	}
	return j, z * (math.Pi / 4)
}

// PowInt returns x**n. It is math.Pow(x, float64(n)) as the standard
// library's pure Go code computes an integer power (successive squarings of
// the mantissa, the powers of two accumulated apart and applied once at the
// end, so that the result underflows or overflows only once), which has no
// sum to fuse but reaches math.Exp and math.Log, and fused code on arm64,
// on other paths of the same function.
func PowInt(x float64, n int64) float64 {
	switch {
	case n == 0 || x == 1:
		return 1
	case n == 1:
		return x
	case math.IsNaN(x):
		return x
	case x == 0 || math.IsInf(x, 0):
		// (+-0)**n and (+-Inf)**n: the sign of x survives odd powers.
		r := x
		if x == 0 && n < 0 || math.IsInf(x, 0) && n < 0 {
			r = 1 / x
		}
		if n%2 == 0 {
			r = math.Abs(r)
		}
		return r
	}
	neg := n < 0
	u := uint64(n)
	if neg {
		u = -u
	}
	a1, ae := 1.0, 0
	x1, xe := math.Frexp(x)
	for i := u; i != 0; i >>= 1 {
		if xe < -1<<12 || 1<<12 < xe {
			// The power of two already exceeds the range of float64: the
			// final Ldexp underflows or overflows.
			ae += xe
			break
		}
		if i&1 == 1 {
			a1 *= x1
			ae += xe
		}
		x1 = float64(x1 * x1) // rounded before the doubling below
		xe <<= 1
		if x1 < .5 {
			x1 += x1
			xe--
		}
	}
	if neg {
		a1 = 1 / a1
		ae = -ae
	}
	return math.Ldexp(a1, ae)
}
