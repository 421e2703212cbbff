package plot

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
)

// history is a job's metrics: steps per epoch, epochs, with or without test accuracy.
func history(job string, spe, epochs int, withTest bool) []checkpoint.MetricPoint {
	t0 := time.Unix(1.7e9, 0).UTC()
	var ps []checkpoint.MetricPoint
	for e := range epochs {
		for k := 1; k <= spe; k++ {
			s := e*spe + k
			ps = append(ps, checkpoint.MetricPoint{Job: job, Kind: KindStep, Epoch: e, Step: s, Time: t0.Add(time.Duration(s) * time.Second),
				Loss: 0.1/float64(s) + 0.01*float64(s%3), Acc: 1 - 0.9/float64(s), SamplesPerSec: 100})
		}
		ps = append(ps, checkpoint.MetricPoint{Job: job, Kind: KindEpoch, Epoch: e, Step: (e + 1) * spe,
			Loss: 0.05 / float64(e+1), Acc: 0.5 + 0.1*float64(e), TestAcc: 0.55 + 0.1*float64(e), HasTest: withTest})
	}
	return ps
}

// decodePNG decodes b and checks its size.
func decodePNG(t *testing.T, b []byte, w, h int) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Fatalf("PNG is %dx%d; want %dx%d", got.X, got.Y, w, h)
	}
	return img
}

// pixels counts the pixels of img that are not white and those close to c.
func pixels(img image.Image, c color.RGBA) (ink, near int) {
	rgba, ok := img.(*image.RGBA)
	if !ok {
		rgba = image.NewRGBA(img.Bounds())
		draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	}
	abs := func(a, b uint8) int {
		if a > b {
			return int(a - b)
		}
		return int(b - a)
	}
	for i := 0; i+3 < len(rgba.Pix); i += 4 {
		r, g, b := rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2]
		if r < 250 || g < 250 || b < 250 {
			ink++
		}
		if abs(r, c.R)+abs(g, c.G)+abs(b, c.B) < 30 {
			near++
		}
	}
	return ink, near
}

// px is the pixel size of a length in inches at PNGDPI.
func px(in float64) int { return int(in*PNGDPI + 0.5) }

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct {
		path, want string
	}{
		{"a/curves.png", "png"}, {"x.PNG", "png"}, {"r.svg", "svg"}, {"r.Svg", "svg"},
		{"r.pdf", ""}, {"noext", ""}, {"r.png.txt", ""},
	} {
		got, err := FormatOf(tc.path)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
		if err != nil && (!errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.path)) {
			t.Errorf("FormatOf(%q): error %v should wrap ErrFormat and name the file", tc.path, err)
		}
	}
}

func TestReduce(t *testing.T) {
	p := func(kind string, step int) checkpoint.MetricPoint {
		return checkpoint.MetricPoint{Job: "j", Kind: kind, Step: step, Epoch: step / 10}
	}
	for _, tc := range []struct {
		name      string
		in        []checkpoint.MetricPoint
		steps     []int
		epochs    []int
		rollbacks []int
	}{
		{"plain", []checkpoint.MetricPoint{p(KindStep, 1), p(KindStep, 2), p(KindEpoch, 2)}, []int{1, 2}, []int{2}, nil},
		{"reset drops the earlier run", []checkpoint.MetricPoint{p(KindStep, 1), p(KindEpoch, 1), p(KindReset, 0), p(KindStep, 1)}, []int{1}, nil, nil},
		{"rollback drops undone steps", []checkpoint.MetricPoint{p(KindStep, 1), p(KindStep, 2), p(KindEpoch, 2), p(KindStep, 3), p(KindStep, 4),
			p(KindRollback, 2), p(KindStep, 3)}, []int{1, 2, 3}, []int{2}, []int{2}},
		{"rollback before an epoch end drops it", []checkpoint.MetricPoint{p(KindStep, 1), p(KindStep, 2), p(KindEpoch, 2), p(KindRollback, 1)},
			[]int{1}, nil, []int{1}},
		{"unknown kinds are steps", []checkpoint.MetricPoint{p("", 5), p("custom", 6)}, []int{5, 6}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Reduce(tc.in)
			if got := stepsOf(h.Steps); !equal(got, tc.steps) {
				t.Errorf("steps %v; want %v", got, tc.steps)
			}
			if got := stepsOf(h.Epochs); !equal(got, tc.epochs) {
				t.Errorf("epochs %v; want %v", got, tc.epochs)
			}
			if !equal(h.Rollbacks, tc.rollbacks) {
				t.Errorf("rollbacks %v; want %v", h.Rollbacks, tc.rollbacks)
			}
			if h.Job != "j" {
				t.Errorf("job %q; want j", h.Job)
			}
		})
	}
}

func stepsOf(ps []checkpoint.MetricPoint) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.Step)
	}
	return out
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTrainingCurvesPNG(t *testing.T) {
	byEpoch := history("e", 1, 4, true)
	for i := range byEpoch {
		byEpoch[i].Step = 0 // a writer that records epochs only
	}
	byEpoch = Reduce(byEpoch).Epochs
	for _, tc := range []struct {
		name     string
		points   []checkpoint.MetricPoint
		test     bool // the test-accuracy series (green) is drawn
		rollback bool // a rollback marker (red) is drawn
	}{
		{"steps and epochs with test accuracy", history("lenet", 20, 3, true), true, false},
		{"no test accuracy", history("lenet", 20, 3, false), false, false},
		{"epochs only", byEpoch, true, false},
		{"with a rollback", append(history("lenet", 20, 2, true), checkpoint.MetricPoint{Job: "lenet", Kind: KindRollback, Step: 30},
			checkpoint.MetricPoint{Job: "lenet", Kind: KindStep, Epoch: 1, Step: 31, Loss: 0.02, Acc: 0.9}), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := TrainingCurves(tc.points, &buf, "png"); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, buf.Bytes(), px(8), px(0.7+2*3.2))
			ink, _ := pixels(img, blue)
			if total := img.Bounds().Dx() * img.Bounds().Dy(); ink < total/50 {
				t.Errorf("only %d of %d pixels are not white: the figure looks blank", ink, total)
			}
			for _, c := range []struct {
				name string
				col  color.RGBA
				want bool
			}{{"epoch loss (blue)", blue, true}, {"epoch accuracy (orange)", orange, true},
				{"test accuracy (green)", green, tc.test}, {"rollback (red)", red, tc.rollback}} {
				_, near := pixels(img, c.col)
				if got := near > 20; got != c.want {
					t.Errorf("%s: %d pixels of its colour; want drawn = %v", c.name, near, c.want)
				}
			}
		})
	}
}

func TestTrainingCurvesSVG(t *testing.T) {
	var buf bytes.Buffer
	ps := append(history("mnist-lenet", 5, 2, true), checkpoint.MetricPoint{Job: "mnist-lenet", Kind: KindRollback, Step: 7})
	if err := TrainingCurves(ps, &buf, ".SVG"); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	if !strings.HasPrefix(strings.TrimSpace(s), "<?xml") || !strings.Contains(s, "<svg") {
		t.Fatalf("output is not SVG: %.100q", s)
	}
	for _, want := range []string{SeriesStepLoss, SeriesEpochLoss, SeriesStepAcc, SeriesEpochAcc, SeriesTestAcc, SeriesRollback,
		"mnist-lenet", "global step", "accuracy (%)", "training loss (MSE)"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestTrainingCurvesErrors(t *testing.T) {
	nan := history("d", 3, 1, false)
	for i := range nan {
		nan[i].Loss = math.NaN()
	}
	for _, tc := range []struct {
		name   string
		points []checkpoint.MetricPoint
		format string
		err    error
		msg    string
	}{
		{"empty", nil, "png", ErrEmpty, "metrics history is empty"},
		{"only markers", []checkpoint.MetricPoint{{Job: "r", Kind: KindStep, Step: 1}, {Job: "r", Kind: KindReset}}, "png", ErrEmpty, `job "r"`},
		{"all NaN", nan, "svg", ErrEmpty, "NaN or infinite"},
		{"pdf", history("f", 2, 1, true), "pdf", ErrFormat, `"pdf"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := TrainingCurves(tc.points, &buf, tc.format)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v; want %v mentioning %q", err, tc.err, tc.msg)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written despite the error", buf.Len())
			}
		})
	}
}

// record is a hand-made spike record: layer "a" fires neuron t at step t, layer
// "b" is silent.
func record() *SpikeRecord {
	const T = 6
	a := LayerSpikes{Name: "conv1", Text: "4C3", Neurons: 8, Times: make([][]int32, T)}
	b := LayerSpikes{Name: "fc3", Text: "16FC", Neurons: 16, Times: make([][]int32, T)}
	for t := range T {
		a.Times[t] = []int32{int32(t), 7}
	}
	return &SpikeRecord{Title: "test sample", T: T, Layers: []LayerSpikes{a, b}, Scores: []float32{0.1, 0.9, -0.2}, Label: 0}
}

func TestLayerSpikesRate(t *testing.T) {
	r := record()
	if got := r.Layers[0].Count(); got != 12 {
		t.Errorf("count %d; want 12", got)
	}
	if got, want := r.Layers[0].Rate(), 12.0/8/6; got != want {
		t.Errorf("rate %v; want %v", got, want)
	}
	if got := r.Layers[1].Rate(); got != 0 {
		t.Errorf("silent layer rate %v; want 0", got)
	}
	if got := r.Predicted(); got != 1 {
		t.Errorf("predicted %d; want 1", got)
	}
	if got := (&SpikeRecord{}).Predicted(); got != -1 {
		t.Errorf("predicted without scores %d; want -1", got)
	}
}

func TestRasterPNG(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores bool
	}{{"with scores", true}, {"without scores", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := record()
			if !tc.scores {
				r.Scores, r.Label = nil, -1
			}
			var buf bytes.Buffer
			if err := Raster(r, &buf, "png"); err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, buf.Bytes(), px(8), px(0.7+2*2+2.6))
			ink, dots := pixels(img, layerCols[0])
			if total := img.Bounds().Dx() * img.Bounds().Dy(); ink < total/100 {
				t.Errorf("only %d of %d pixels are not white: the figure looks blank", ink, total)
			}
			// The first layer's 12 dots and its firing-rate bar (same blue).
			if dots < 12*4 {
				t.Errorf("%d pixels in the first layer's colour; want its 12 spikes drawn", dots)
			}
			if _, n := pixels(img, orange); (n > 20) != tc.scores {
				t.Errorf("%d orange pixels (the predicted class's bar); want drawn = %v", n, tc.scores)
			}
		})
	}
}

func TestRasterSVG(t *testing.T) {
	var buf bytes.Buffer
	if err := Raster(record(), &buf, "svg"); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	for _, want := range []string{"conv1 (4C3)", "fc3 (16FC)", "(silent)", "firing rate per layer", "output scores",
		"test sample", "predicted class 1, true label 0 (wrong)", "time step t"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestRasterErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(r *SpikeRecord) *SpikeRecord
		format string
		err    error
		msg    string
	}{
		{"nil", func(*SpikeRecord) *SpikeRecord { return nil }, "png", ErrEmpty, "no layers"},
		{"no layers", func(r *SpikeRecord) *SpikeRecord { r.Layers = nil; return r }, "png", ErrEmpty, "no layers"},
		{"T", func(r *SpikeRecord) *SpikeRecord { r.T = 0; return r }, "png", ErrRecord, "T = 0"},
		{"steps", func(r *SpikeRecord) *SpikeRecord { r.Layers[1].Times = r.Layers[1].Times[:2]; return r }, "png", ErrRecord, "layer fc3 has spikes for 2 steps"},
		{"neuron", func(r *SpikeRecord) *SpikeRecord { r.Layers[0].Times[3] = []int32{8}; return r }, "png", ErrRecord, "layer conv1 step 3: neuron 8 is outside 0..7"},
		{"neurons", func(r *SpikeRecord) *SpikeRecord { r.Layers[0].Neurons = 0; return r }, "png", ErrRecord, "0 neurons"},
		{"label", func(r *SpikeRecord) *SpikeRecord { r.Label = 3; return r }, "png", ErrRecord, "label 3"},
		{"format", func(r *SpikeRecord) *SpikeRecord { return r }, "gif", ErrFormat, `"gif"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Raster(tc.edit(record()), &buf, tc.format)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v; want %v mentioning %q", err, tc.err, tc.msg)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written despite the error", buf.Len())
			}
		})
	}
}

// TestRecord runs a real network and checks the record against the engine's
// spike counts.
func TestRecord(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.T = 12
	n, err := engine.BuildNet("4C3-P2-MP2-8FC-10FC", engine.Shape{C: 1, H: 8, W: 8}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := engine.NewModel(n, 7)
	x := make([]float32, n.SampleSize())
	for i := range x {
		x[i] = float32(i%5) / 4
	}
	ws := engine.NewWorkspace(n)
	rec, err := Record(ws, m, x, 3, 11)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, l := range rec.Layers {
		names = append(names, l.Name)
	}
	if got, want := strings.Join(names, ","), "conv1,pool2,maxpool3,fc4"; got != want {
		t.Fatalf("layers %s; want %s (every layer with spikes, not the output)", got, want)
	}
	if rec.T != 12 || len(rec.Scores) != 10 || rec.Label != -1 {
		t.Fatalf("T %d, %d scores, label %d; want 12, 10, -1", rec.T, len(rec.Scores), rec.Label)
	}
	o, err := ws.Predict(m, x, 3, 11)
	if err != nil {
		t.Fatal(err)
	}
	for i := range o {
		if o[i] != rec.Scores[i] {
			t.Fatalf("score %d: %v; Predict gives %v", i, rec.Scores[i], o[i])
		}
	}
	total := 0
	for li, l := range n.Layers {
		if !l.Spiking {
			continue
		}
		var sum float64
		for _, v := range ws.LayerSpikes(li) {
			sum += float64(v)
		}
		var got LayerSpikes
		for _, r := range rec.Layers {
			if r.Name == l.Name() {
				got = r
			}
		}
		if float64(got.Count()) != sum || got.Neurons != l.Out.Size() {
			t.Errorf("%s: %d spikes over %d neurons recorded; the engine counts %v over %d", l.Name(), got.Count(), got.Neurons, sum, l.Out.Size())
		}
		total += got.Count()
	}
	if total == 0 {
		t.Fatal("no layer fired: the test input is too weak to check anything")
	}
	var buf bytes.Buffer
	if err := Raster(rec, &buf, "png"); err != nil {
		t.Fatal(err)
	}
	decodePNG(t, buf.Bytes(), px(8), px(0.7+4*2+2.6))
	if _, err := Record(ws, m, x[:3], 3, 0); !errors.Is(err, engine.ErrShape) {
		t.Errorf("a short sample: error %v; want engine.ErrShape", err)
	}
}
