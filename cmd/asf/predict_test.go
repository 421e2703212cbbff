package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/snapshot"
	"github.com/spf13/cobra"
)

// writePNG writes img to dir/name and returns the path.
func writePNG(t *testing.T, dir, name string, img image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadImage(t *testing.T) {
	dir := t.TempDir()
	// A 4x2 gray image with a gradient.
	gray := image.NewGray(image.Rect(0, 0, 4, 2))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 30)
	}
	grayPath := writePNG(t, dir, "gray.png", gray)
	// A colour image: pure red, green and blue columns.
	rgb := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	rgb.Set(0, 0, color.NRGBA{255, 0, 0, 255})
	rgb.Set(1, 0, color.NRGBA{0, 255, 0, 255})
	rgb.Set(2, 0, color.NRGBA{0, 0, 255, 255})
	rgbPath := writePNG(t, dir, "rgb.png", rgb)
	// A white 8x8 square drawn on a transparent background, 16x16.
	tr := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for y := 4; y < 12; y++ {
		for x := 4; x < 12; x++ {
			tr.Set(x, y, color.NRGBA{255, 255, 255, 255})
		}
	}
	trPath := writePNG(t, dir, "transparent.png", tr)
	jpeg := filepath.Join(dir, "photo.png")
	os.WriteFile(jpeg, []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), 0o644)
	broken := filepath.Join(dir, "broken.png")
	os.WriteFile(broken, append(append([]byte(nil), pngMagic...), "garbage"...), 0o644)
	// A valid header claiming 100000x100000 pixels (no image data needed to refuse it).
	huge := filepath.Join(dir, "huge.png")
	var hb bytes.Buffer
	png.Encode(&hb, image.NewGray(image.Rect(0, 0, 1, 1)))
	hdr := hb.Bytes()
	binary.BigEndian.PutUint32(hdr[16:], 100000)
	binary.BigEndian.PutUint32(hdr[20:], 100000)
	binary.BigEndian.PutUint32(hdr[29:], crc32.ChecksumIEEE(hdr[12:29]))
	os.WriteFile(huge, hdr, 0o644)
	text := filepath.Join(dir, "notes.png")
	os.WriteFile(text, []byte("hello"), 0o644)

	near := func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-3 }
	for _, tc := range []struct {
		name   string
		path   string
		in     engine.Shape
		ds     string
		invert bool
		check  func(t *testing.T, s sample)
		err    string
	}{
		{name: "gray, same size", path: grayPath, in: engine.Shape{C: 1, H: 2, W: 4}, ds: "mnist", check: func(t *testing.T, s sample) {
			for i, v := range s.x {
				if !near(v, float32(i*30)/255) {
					t.Errorf("pixel %d: %v; want %v", i, v, float32(i*30)/255)
				}
			}
			if strings.Contains(strings.Join(s.notes, ";"), "resized") {
				t.Errorf("notes %q mention a resize of a same-size image", s.notes)
			}
		}},
		{name: "gray, inverted", path: grayPath, in: engine.Shape{C: 1, H: 2, W: 4}, ds: "mnist", invert: true, check: func(t *testing.T, s sample) {
			if !near(s.x[0], 1) || !near(s.x[7], 1-210.0/255) {
				t.Errorf("inverted pixels %v", s.x)
			}
		}},
		{name: "colour to gray by luma", path: rgbPath, in: engine.Shape{C: 1, H: 1, W: 3}, ds: "mnist", check: func(t *testing.T, s sample) {
			// Go's luma: 0.299 R + 0.587 G + 0.114 B.
			for i, want := range []float32{0.299, 0.587, 0.114} {
				if math.Abs(float64(s.x[i]-want)) > 0.01 {
					t.Errorf("pixel %d: %v; want %v", i, s.x[i], want)
				}
			}
			if !strings.Contains(strings.Join(s.notes, ";"), "colour image converted to gray") {
				t.Errorf("notes %q do not say the colour image was converted", s.notes)
			}
		}},
		{name: "colour for an RGB net, CIFAR-normalised", path: rgbPath, in: engine.Shape{C: 3, H: 1, W: 3}, ds: "cifar10", check: func(t *testing.T, s sample) {
			// Red pixel: R = 1, G = B = 0, in CHW order.
			for ch, v := range []float32{1, 0, 0} {
				want := (v - dataset.CIFAR10Mean[ch]) / dataset.CIFAR10Std[ch]
				if !near(s.x[ch*3], want) {
					t.Errorf("channel %d of pixel 0: %v; want %v", ch, s.x[ch*3], want)
				}
			}
		}},
		{name: "transparent background is black", path: trPath, in: engine.Shape{C: 1, H: 16, W: 16}, ds: "mnist", check: func(t *testing.T, s sample) {
			if s.x[0] != 0 || s.x[15*16+15] != 0 || !near(s.x[8*16+8], 1) {
				t.Errorf("corner %v, %v, centre %v; want 0, 0, 1", s.x[0], s.x[255], s.x[8*16+8])
			}
		}},
		{name: "transparent background, inverted", path: trPath, in: engine.Shape{C: 1, H: 16, W: 16}, ds: "mnist", invert: true, check: func(t *testing.T, s sample) {
			if !near(s.x[0], 1) || !near(s.x[8*16+8], 0) {
				t.Errorf("corner %v, centre %v; want 1, 0", s.x[0], s.x[8*16+8])
			}
		}},
		{name: "shrunk 16x16 to 4x4", path: trPath, in: engine.Shape{C: 1, H: 4, W: 4}, ds: "mnist", check: func(t *testing.T, s sample) {
			// The tent kernel, widened 4x, blurs the square's edges: bright centre,
			// dark corners, symmetric.
			c, k := s.x[1*4+1], s.x[0]
			if c < 0.7 || k > 0.05 || !near(s.x[2*4+2], c) || !near(s.x[15], k) || !near(s.x[1*4+2], c) {
				t.Errorf("shrunk square %v; want bright symmetric centre, dark corners", s.x)
			}
			if !strings.Contains(strings.Join(s.notes, ";"), "resized to 4x4 (bilinear)") {
				t.Errorf("notes %q", s.notes)
			}
		}},
		{name: "missing", path: filepath.Join(dir, "nope.png"), in: engine.Shape{C: 1, H: 2, W: 2}, err: "nope.png: no such file"},
		{name: "JPEG", path: jpeg, in: engine.Shape{C: 1, H: 2, W: 2}, err: "a JPEG image, not a PNG"},
		{name: "text", path: text, in: engine.Shape{C: 1, H: 2, W: 2}, err: "notes.png: not a PNG file"},
		{name: "broken PNG", path: broken, in: engine.Shape{C: 1, H: 2, W: 2}, err: "broken.png: decoding the PNG"},
		{name: "huge", path: huge, in: engine.Shape{C: 1, H: 2, W: 2}, err: "huge.png: 100000x100000 pixels; at most"},
		{name: "2 channels", path: grayPath, in: engine.Shape{C: 2, H: 2, W: 2}, err: "takes 2 channels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := readImage(tc.path, tc.in, tc.ds, tc.invert)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.x) != tc.in.Size() || s.label != -1 {
				t.Fatalf("%d values, label %d; want %d, -1", len(s.x), s.label, tc.in.Size())
			}
			tc.check(t, s)
		})
	}
}

// writeWeights saves fresh weights of a small network for the synthetic data set
// (16x16, 10 classes) to dir and returns the path and the job.
func writeWeights(t *testing.T, dir string, ds string) (string, job.Job) {
	t.Helper()
	j := job.Default()
	j.ID, j.Dataset, j.Spec, j.Neuron.T = "syn", ds, "4C3-P2-10FC", 8
	n, err := j.Net(engine.Shape{C: 1, H: 16, W: 16})
	if err != nil {
		t.Fatal(err)
	}
	st := snapshot.Capture(j, engine.NewModel(n, j.Seed), nil, snapshot.Position{}, checkpoint.Summary{})
	p := filepath.Join(dir, "w.safetensors")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.ExportSafetensors(st, f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, j
}

// runCmd runs a command built by newCmd with args and returns its output.
func runCmd(t *testing.T, newCmd func() *cobra.Command, args ...string) (string, error) {
	t.Helper()
	cmd := newCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestPredict(t *testing.T) {
	dir := t.TempDir()
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir, globals.log.Level, globals.log.Format = dir, "warn", "text"
	w, j := writeWeights(t, dir, "synthetic")

	// The engine's own evaluation of test sample 5, to compare with.
	test, err := dataset.LoadWith(context.Background(), "synthetic", dir, dataset.Test, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := readWeights(w)
	if err != nil {
		t.Fatal(err)
	}
	_, m, _, err := snapshot.Restore(st, engine.Shape{C: 1, H: 16, W: 16})
	if err != nil {
		t.Fatal(err)
	}
	res, err := engine.Evaluate(m, job.MakeBatch(test, []int{5}), j.Seed, job.Workspaces(m.Net, 1))
	if err != nil {
		t.Fatal(err)
	}
	label := int(test.Y[5])
	evalPred := -1
	for p, c := range res.Confusion[label] {
		if c == 1 {
			evalPred = p
		}
	}

	raster := filepath.Join(dir, "r.png")
	out, err := runCmd(t, newPredictCmd, "--weights", w, "--index", "5", "--raster", raster)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"job syn", "synthetic test #5, label " + strconv.Itoa(label), "class  score o",
		"predicted class: " + strconv.Itoa(evalPred) + " (true label " + strconv.Itoa(label), "conv1", "pool2", "raster plot: " + raster} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "<- predicted") != 1 {
		t.Errorf("want exactly one predicted class marked:\n%s", out)
	}
	b, err := os.ReadFile(raster)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("raster is not a PNG: %v", err)
	}

	// An image: a bright square, resized from 32x32.
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	for y := 8; y < 24; y++ {
		for x := 8; x < 24; x++ {
			img.SetGray(x, y, color.Gray{Y: 255})
		}
	}
	ip := writePNG(t, dir, "square.png", img)
	out, err = runCmd(t, newPredictCmd, "--weights", w, ip)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"sample:  " + ip, "32x32 gray image; resized to 16x16 (bilinear); scaled to [0,1]", "predicted class: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "true label") {
		t.Errorf("an image has no label:\n%s", out)
	}
}

func TestPredictErrors(t *testing.T) {
	dir := t.TempDir()
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir, globals.log.Level, globals.log.Format = dir, "warn", "text"
	w, _ := writeWeights(t, dir, "synthetic")
	wn, _ := writeWeights(t, t.TempDir(), "nmnist")
	img := writePNG(t, dir, "a.png", image.NewGray(image.Rect(0, 0, 16, 16)))
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"no weights", []string{"--index", "1"}, "--weights FILE is required"},
		{"missing weights", []string{"--weights", filepath.Join(dir, "x.safetensors"), "--index", "1"}, "x.safetensors: no such file"},
		{"not safetensors", []string{"--weights", img, "--index", "1"}, "a.png"},
		{"no sample", []string{"--weights", w}, "choose a sample"},
		{"both", []string{"--weights", w, img, "--index", "2"}, "not both"},
		{"split", []string{"--weights", w, "--index", "2", "--split", "val"}, `--split "val"`},
		{"split with image", []string{"--weights", w, img, "--split", "train"}, "--split applies to --index"},
		{"invert with index", []string{"--weights", w, "--index", "2", "--invert"}, "--invert applies to an image"},
		{"index range", []string{"--weights", w, "--index", "5000"}, "the synthetic test split has samples 0..999"},
		{"raster format", []string{"--weights", w, "--index", "1", "--raster", filepath.Join(dir, "r.gif")}, "want .png or .svg"},
		{"event data", []string{"--weights", wn, img}, "event streams, not images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, newPredictCmd, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v; want one containing %q\n%s", err, tc.err, out)
			}
		})
	}
}
