package scaling

import (
	"fmt"
	"math"
	"time"
)

// Model is the step time of synchronous data-parallel training in gradient
// mode:
//
//	T(W, B) = compute + all-reduce + wait
//	compute = C0 + S * m * ceil(B/(W*m) / threads)    (micro-batches of m samples, threads per worker)
//	all-reduce = 0 for W = 1, else 2(W-1)*Alpha + 2(W-1)/W * P * max(8*Overhead/R, Kappa)
//	wait = F0 + F1*(W-1)
//
// with P the payload bytes of one all-reduce (the elements as encoded) and R
// the link rate in bit/s. S is the seconds per sample on one worker at the
// measured CPU quota, C0 the fixed compute per step (optimizer, quantisation),
// Alpha the cost of each of the ring's 2(W-1) message rounds, Overhead the
// bytes on the wire per payload byte (gRPC, HTTP/2, TCP/IP, Ethernet), Kappa
// the CPU seconds per payload byte of encoding, summing and copying (a
// bandwidth the CPU caps), and F0 + F1*(W-1) what is neither (the
// coordinator's round trip per step grows with the reports it collects).
type Model struct {
	S, C0, Alpha, Overhead, Kappa, F0, F1 float64
	// Threads and Micro describe the workers the model was fitted on.
	Threads, Micro int
	// CPUs is the cores per worker the fit ran at: the mean CPU time over
	// wall time of the workers (the quota when it could not be measured).
	CPUs float64
}

// Shape is what the model needs to know of a configuration.
type Shape struct {
	Workers, Batch, Micro, Threads int
	// PayloadBytes of one all-reduce; LinkBits its link rate.
	PayloadBytes float64
	LinkBits     int64
}

// Parts is a predicted step split like a measured Point.
type Parts struct {
	Compute, Reduce, Wait float64 // seconds
}

// Step returns the predicted step time in seconds.
func (p Parts) Step() float64 { return p.Compute + p.Reduce + p.Wait }

// Predict returns the step time of shape s.
func (m Model) Predict(s Shape) Parts {
	w := float64(s.Workers)
	perWorker := float64(s.Batch) / (w * float64(s.Micro)) // micro-batches per worker
	rounds := math.Ceil(perWorker / float64(max(s.Threads, 1)))
	out := Parts{Compute: m.C0 + m.S*float64(s.Micro)*rounds, Wait: m.F0 + m.F1*(w-1)}
	if s.Workers > 1 {
		perByte := m.Kappa
		if s.LinkBits > 0 {
			perByte = max(8*m.Overhead/float64(s.LinkBits), m.Kappa)
		}
		out.Reduce = 2*(w-1)*m.Alpha + 2*(w-1)/w*s.PayloadBytes*perByte
	}
	return out
}

// ShapeOf returns the shape of a measured point: its payload is the encoded
// buffer, the bytes a worker sent over 2(W-1)/W.
func ShapeOf(p Point) Shape {
	s := Shape{Workers: p.Config.Workers, Batch: p.Config.Job.Batch, Micro: p.Config.Job.Micro,
		Threads: p.Config.Threads, LinkBits: p.Config.LinkBits}
	if w := float64(p.Config.Workers); w > 1 {
		s.PayloadBytes = p.PayloadBytes * w / (2 * (w - 1))
	}
	return s
}

// Fit fits the model to measured gradient-mode points: S and C0 to the
// compute times, Overhead to the wire over payload bytes, Alpha and Kappa to
// the fastest worker's all-reduce times (the others include waiting for it),
// F0 and F1 to the rest. Every coefficient is kept non-negative.
func Fit(points []Point) (Model, error) {
	var ps []Point
	for _, p := range points {
		if p.Config.SyncMode == "gradient" {
			ps = append(ps, p)
		}
	}
	if len(ps) < 2 {
		return Model{}, fmt.Errorf("%w: fitting the model needs at least two gradient-mode points, got %d", ErrInvalid, len(ps))
	}
	m := Model{Threads: ps[0].Config.Threads, Micro: ps[0].Config.Job.Micro, CPUs: ps[0].Config.CPUs}
	// The cores a worker actually got: its CPU time over the wall time. On a
	// busy host it is below the quota, and it is what the wall times were
	// measured at.
	var share float64
	var shares int
	for _, p := range ps {
		if p.CPU > 0 && p.StepTime > 0 {
			share += p.CPU.Seconds() / p.StepTime.Seconds()
			shares++
		}
	}
	if shares > 0 {
		m.CPUs = share / float64(shares)
	}
	// compute = C0 + S * m * rounds
	var xs, ys [][]float64
	for _, p := range ps {
		s := ShapeOf(p)
		rounds := math.Ceil(float64(s.Batch) / float64(s.Workers*s.Micro) / float64(max(s.Threads, 1)))
		xs, ys = append(xs, []float64{1, float64(s.Micro) * rounds}), append(ys, []float64{p.Compute.Seconds()})
	}
	c := nnls(xs, ys)
	m.C0, m.S = c[0], c[1]

	var wire, pay float64
	var rx, ry [][]float64
	var wx, wy [][]float64
	for _, p := range ps {
		w := float64(p.Config.Workers)
		wx, wy = append(wx, []float64{1, w - 1}), append(wy, []float64{p.Wait.Seconds()})
		if p.Config.Workers < 2 {
			continue
		}
		wire += p.WireBytes
		pay += p.PayloadBytes
		rx = append(rx, []float64{2 * (w - 1), p.PayloadBytes})
		ry = append(ry, []float64{p.ReduceMin.Seconds()})
	}
	m.Overhead = 1
	if pay > 0 && wire > pay {
		m.Overhead = wire / pay
	}
	if len(rx) > 0 {
		// reduce = Alpha*2(W-1) + 2(W-1)/W*P*perByte, perByte = max(8*Overhead/R, Kappa):
		// fit perByte, then Kappa is what the link rate does not explain.
		c := nnls(rx, ry)
		m.Alpha = c[0]
		perByte := c[1]
		var rate float64
		for _, p := range ps {
			if p.Config.Workers > 1 && p.Config.LinkBits > 0 {
				rate = max(rate, float64(p.Config.LinkBits))
			}
		}
		m.Kappa = perByte
		if rate > 0 && perByte <= 8*m.Overhead/rate {
			m.Kappa = 0 // the link explains the transfer time
		}
	}
	c = nnls(wx, wy)
	m.F0, m.F1 = c[0], c[1]
	return m, nil
}

// nnls solves min |Xc - y| with c >= 0 for one or two unknowns, by trying
// every subset of free coefficients (enough for this model's small fits).
func nnls(xs, ys [][]float64) []float64 {
	k := len(xs[0])
	best, bestErr := make([]float64, k), math.Inf(1)
	for mask := 1; mask < 1<<k; mask++ {
		c, ok := solveLS(xs, ys, mask)
		if !ok {
			continue
		}
		var e float64
		for i := range xs {
			var v float64
			for j := range k {
				v += c[j] * xs[i][j]
			}
			e += (v - ys[i][0]) * (v - ys[i][0])
		}
		if e < bestErr {
			best, bestErr = c, e
		}
	}
	return best
}

// solveLS solves the least-squares problem on the columns in mask (one or
// two of them) through the normal equations; ok is false for a singular
// system or a negative coefficient.
func solveLS(xs, ys [][]float64, mask int) ([]float64, bool) {
	k := len(xs[0])
	var cols []int
	for j := range k {
		if mask&(1<<j) != 0 {
			cols = append(cols, j)
		}
	}
	c := make([]float64, k)
	switch len(cols) {
	case 1:
		j := cols[0]
		var xx, xy float64
		for i := range xs {
			xx += xs[i][j] * xs[i][j]
			xy += xs[i][j] * ys[i][0]
		}
		if xx == 0 {
			return nil, false
		}
		c[j] = xy / xx
	case 2:
		a, b := cols[0], cols[1]
		var aa, ab, bb, ay, by float64
		for i := range xs {
			aa += xs[i][a] * xs[i][a]
			ab += xs[i][a] * xs[i][b]
			bb += xs[i][b] * xs[i][b]
			ay += xs[i][a] * ys[i][0]
			by += xs[i][b] * ys[i][0]
		}
		det := aa*bb - ab*ab
		if math.Abs(det) <= 1e-12*math.Max(aa*bb, 1e-300) {
			return nil, false
		}
		c[a], c[b] = (ay*bb-by*ab)/det, (aa*by-ab*ay)/det
	default:
		return nil, false
	}
	for _, j := range cols {
		if c[j] < 0 {
			return nil, false
		}
	}
	return c, true
}

// Rescale returns the model for workers with threads compute goroutines, each
// on a core of its own: every time the fit measured at m.CPUs cores per
// worker shrinks by that factor (CPU seconds stay), the per-sample time, the
// fixed compute, the per-message and per-byte costs, and the wait (the
// optimizer step, the digest and the coordinator's round trip are CPU work on
// equally busy cores); only the wire overhead stays.
func (m Model) Rescale(cpus float64, threads int) Model {
	f := min(m.CPUs, 1)
	if m.CPUs == 0 {
		f = 1
	}
	out := m
	out.S, out.C0, out.Alpha, out.Kappa = m.S*f, m.C0*f, m.Alpha*f, m.Kappa*f
	out.F0, out.F1 = m.F0*f, m.F1*f
	out.CPUs, out.Threads = cpus, threads
	return out
}

// Duration turns seconds into a time.Duration.
func Duration(sec float64) time.Duration { return time.Duration(sec * 1e9) }
