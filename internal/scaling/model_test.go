package scaling

import (
	"math"
	"testing"
	"time"
)

// synthetic returns the points a cluster that follows m exactly would measure.
func synthetic(m Model, cpus float64) []Point {
	var ps []Point
	for _, b := range []int{64, 256} {
		for _, w := range []int{1, 2, 4} {
			c := DefaultRunConfig()
			c.Workers, c.Job.Batch, c.CPUs = w, b, cpus
			payload := 1.5e6 // encoded buffer
			s := Shape{Workers: w, Batch: b, Micro: c.Job.Micro, Threads: 1, LinkBits: c.LinkBits, PayloadBytes: payload}
			parts := m.Predict(s)
			p := Point{Config: c, Compute: Duration(parts.Compute), Reduce: Duration(parts.Reduce), ReduceMin: Duration(parts.Reduce),
				Wait: Duration(parts.Wait), StepTime: Duration(parts.Step())}
			if w > 1 {
				p.PayloadBytes = payload * 2 * float64(w-1) / float64(w)
				p.WireBytes = p.PayloadBytes * m.Overhead
			}
			p.CPU = Duration(parts.Step() * cpus)
			ps = append(ps, p)
		}
	}
	return ps
}

func TestFitRecoversModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Model
	}{
		{"link-bound", Model{S: 4e-3, C0: 2e-3, Alpha: 1e-3, Overhead: 1.03, F0: 20e-3, F1: 5e-3}},
		{"cpu-bound all-reduce", Model{S: 4e-3, C0: 0, Alpha: 0.5e-3, Overhead: 1.01, Kappa: 40e-9, F0: 10e-3, F1: 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.m.Micro, tc.m.Threads = 8, 1
			ps := synthetic(tc.m, 0.45)
			got, err := Fit(ps)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				want := p.StepTime.Seconds()
				if pred := got.Predict(ShapeOf(p)).Step(); math.Abs(pred-want) > 1e-3*want {
					t.Errorf("W=%d batch %d: model %.4f s, measured %.4f s", p.Config.Workers, p.Config.Job.Batch, pred, want)
				}
			}
			if math.Abs(got.S-tc.m.S) > 1e-9 || math.Abs(got.Overhead-tc.m.Overhead) > 1e-9 || math.Abs(got.CPUs-0.45) > 1e-6 {
				t.Errorf("fitted %+v, want %+v at 0.45 cores", got, tc.m)
			}
		})
	}
	if _, err := Fit(nil); err == nil {
		t.Error("Fit of no points succeeded")
	}
}

func TestRescaleAndPredict(t *testing.T) {
	m := Model{S: 10e-3, Alpha: 1e-3, Overhead: 1, F0: 20e-3, Micro: 8, Threads: 1, CPUs: 0.5}
	r := m.Rescale(16, 16)
	if r.S != 5e-3 || r.F0 != 10e-3 || r.Threads != 16 {
		t.Fatalf("Rescale: %+v, want the times halved (0.5 cores -> one per thread)", r)
	}
	ref := NetProfile{Name: "ref", Params: 1000, BytesPerParam: 4, CPUPerSample: 5 * time.Millisecond}
	big := NetProfile{Name: "big", Params: 100000, BytesPerParam: 4, CPUPerSample: 50 * time.Millisecond}
	ps := Predict(m, ref, big, []int{8, 64}, 16, []int64{10e9}, []int{256, 4096})
	if len(ps) != 4 {
		t.Fatalf("%d predictions, want 4", len(ps))
	}
	for _, p := range ps {
		if !(p.E > 0 && p.E <= 1.0000001) || p.SamplesPerSec <= 0 {
			t.Errorf("%+v: want 0 < E <= 1", p)
		}
		if p.Workers == 64 && p.Batch == 256 && !p.Unsafe {
			t.Errorf("W=64 batch 256 (4 samples per 16-core worker) is not flagged: %+v", p)
		}
	}
}

func TestMedian(t *testing.T) {
	ps := []Point{{SamplesPerSec: 30, Digest: "c"}, {SamplesPerSec: 10, Digest: "a"}, {SamplesPerSec: 20, Digest: "b"}}
	m := Median(ps)
	if m.Digest != "b" || len(m.Runs) != 3 || m.Runs[0] != 30 {
		t.Fatalf("Median = %+v, want the 20 samples/s point with all three runs", m)
	}
	if two := Median(ps[:2]); two.SamplesPerSec != 10 {
		t.Fatalf("Median of two = %v samples/s, want the lower (10)", two.SamplesPerSec)
	}
}
