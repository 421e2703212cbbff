package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/checkpoint"
)

// metricsStore writes a store with job "lenet" (3 epochs of 10 steps, test
// accuracy per epoch) and job "empty" (no history), and returns its path.
func metricsStore(t *testing.T, dir string) string {
	t.Helper()
	db := filepath.Join(dir, "asf.db")
	s, err := checkpoint.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"lenet", "empty"} {
		if err := s.PutJob(id, []byte(`{"id":"`+id+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	var ps []checkpoint.MetricPoint
	t0 := time.Unix(1.7e9, 0).UTC()
	for e := range 3 {
		for k := 1; k <= 10; k++ {
			st := e*10 + k
			ps = append(ps, checkpoint.MetricPoint{Job: "lenet", Kind: "step", Epoch: e, Step: st, Time: t0.Add(time.Duration(st) * time.Second),
				Loss: 0.08/float64(st) + 0.01, Acc: 1 - 0.8/float64(st+1), SamplesPerSec: 500, Workers: 2, Generation: 1})
		}
		ps = append(ps, checkpoint.MetricPoint{Job: "lenet", Kind: "epoch", Epoch: e, Step: (e + 1) * 10,
			Loss: 0.03 / float64(e+1), Acc: 0.8 + 0.05*float64(e), TestAcc: 0.82 + 0.05*float64(e), HasTest: true})
	}
	if err := s.AppendMetrics(ps...); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestPlotCurves(t *testing.T) {
	dir := t.TempDir()
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir, globals.log.Level, globals.log.Format = dir, "warn", "text"
	db := metricsStore(t, dir)

	for _, tc := range []struct {
		name string
		args []string
		file string
	}{
		{"png", []string{"--db", db, "--job", "lenet", "-o", filepath.Join(dir, "c.png")}, "c.png"},
		{"svg from the data dir's store", []string{"--job", "lenet", "-o", filepath.Join(dir, "c.svg")}, "c.svg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, newPlotCurvesCmd, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "from 33 metric points") {
				t.Errorf("output %q does not count the 33 points", out)
			}
			b, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(tc.file, ".png") {
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("not a PNG: %v", err)
				}
				if img.Bounds().Dx() < 800 || countInk(img) < img.Bounds().Dx()*img.Bounds().Dy()/50 {
					t.Errorf("%v image with %d inked pixels: looks blank", img.Bounds(), countInk(img))
				}
			} else if !strings.Contains(string(b), "test accuracy") || !strings.Contains(string(b), "Training curves of job lenet") {
				t.Errorf("SVG lacks the series or the title")
			}
		})
	}
}

func TestPlotCurvesErrors(t *testing.T) {
	dir := t.TempDir()
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir, globals.log.Level, globals.log.Format = dir, "warn", "text"
	db := metricsStore(t, dir)
	o := filepath.Join(dir, "c.png")
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"no history", []string{"--db", db, "--job", "empty", "-o", o}, `job "empty" has no metrics history`},
		{"unknown job", []string{"--db", db, "--job", "vgg", "-o", o}, `no job "vgg" in ` + db + " (jobs: empty, lenet)"},
		{"job needed", []string{"--db", db, "-o", o}, "--job-id is required: the store " + db + " holds 2 jobs"},
		{"no output", []string{"--db", db, "--job", "lenet"}, "-o FILE.png or FILE.svg is required"},
		{"format", []string{"--db", db, "--job", "lenet", "-o", filepath.Join(dir, "c.pdf")}, `extension ".pdf"`},
		{"no store", []string{"--db", filepath.Join(dir, "none.db"), "--job", "lenet", "-o", o}, "none.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, newPlotCurvesCmd, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v; want one containing %q\n%s", err, tc.err, out)
			}
		})
	}
	if _, err := os.Stat(o); !os.IsNotExist(err) {
		t.Errorf("a failed plot left %s behind (%v)", o, err)
	}
}

func TestPlotRaster(t *testing.T) {
	dir := t.TempDir()
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir, globals.log.Level, globals.log.Format = dir, "warn", "text"
	w, _ := writeWeights(t, dir, "synthetic")
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i % 200)
	}
	ip := writePNG(t, dir, "in.png", img)
	for _, tc := range []struct {
		name string
		args []string
		out  string
	}{
		{"index", []string{"--weights", w, "--index", "2", "--split", "train", "-o", filepath.Join(dir, "r.png")}, "synthetic train #2 through 4C3-P2-10FC"},
		{"image", []string{"--weights", w, "--image", ip, "-o", filepath.Join(dir, "r.svg")}, ip + " through"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, newPlotRasterCmd, tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("output %q lacks %q", out, tc.out)
			}
		})
	}
	b, err := os.ReadFile(filepath.Join(dir, "r.png"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	s, err := os.ReadFile(filepath.Join(dir, "r.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"conv1 (4C3)", "pool2 (P2)", "firing rate per layer"} {
		if !strings.Contains(string(s), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if _, err := runCmd(t, newPlotRasterCmd, "--weights", w, "--index", "2"); err == nil || !strings.Contains(err.Error(), "-o FILE.png") {
		t.Errorf("without -o: error %v", err)
	}
}

// countInk counts the pixels of img that are not white.
func countInk(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if c := color.GrayModel.Convert(img.At(x, y)).(color.Gray); c.Y < 250 {
				n++
			}
		}
	}
	return n
}
