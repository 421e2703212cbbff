package dataset

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadSynthetic(t *testing.T) {
	ctx := context.Background()
	train, err := Load(ctx, "synthetic", "", Train)
	if err != nil {
		t.Fatal(err)
	}
	test, err := Load(ctx, "synthetic", "", Test)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 2000 || test.Len() != 1000 || train.Name != "synthetic" {
		t.Fatalf("synthetic: train %d, test %d samples, name %q", train.Len(), test.Len(), train.Name)
	}
	bad := DefaultSyntheticConfig()
	bad.Classes = 0
	if _, err := LoadWith(ctx, "synthetic", "", Train, &LoadOptions{Synthetic: &bad}); !errors.Is(err, ErrConfig) {
		t.Fatalf("invalid synthetic config: error %v, want ErrConfig", err)
	}
}

func TestLoadCIFAR10(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// The layout of the extracted cifar-10-binary.tar.gz.
	d := filepath.Join(dir, "cifar10", "cifar-10-batches-bin")
	for i := 1; i <= 5; i++ {
		writeFile(t, filepath.Join(d, "data_batch_"+string(rune('0'+i))+".bin"), cifarRecords(i))
	}
	writeFile(t, filepath.Join(d, "test_batch.bin"), cifarRecords(4))
	train, err := Load(ctx, "cifar10", dir, Train)
	if err != nil {
		t.Fatal(err)
	}
	test, err := Load(ctx, "cifar10", dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 15 || test.Len() != 4 || train.Name != "cifar10" || train.C != 3 {
		t.Fatalf("cifar10: train %d (want 1+2+3+4+5), test %d samples, name %q, C %d", train.Len(), test.Len(), train.Name, train.C)
	}
	_, err = Load(ctx, "cifar10", t.TempDir(), Train)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "data_batch_1.bin") {
		t.Fatalf("missing cifar10: error %v, want fs.ErrNotExist naming data_batch_1.bin", err)
	}
}

func TestLoadNMNIST(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "nmnist")
	writeFile(t, filepath.Join(root, "Train", "3", "b.bin"), ev(1, 2, 1, 10))
	writeFile(t, filepath.Join(root, "Train", "3", "a.bin"), bytes.Repeat(ev(1, 2, 0, 10), 2))
	writeFile(t, filepath.Join(root, "Train", "0", "z.bin"), ev(3, 4, 1, 5))
	writeFile(t, filepath.Join(root, "Test", "9", "00001.bin"), ev(5, 6, 1, 5))
	s, err := LoadWith(ctx, "nmnist", dir, Train, &LoadOptions{Frames: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Frames != 2 || !slices.Equal(s.Y, []uint8{0, 3, 3}) || s.Name != "nmnist" {
		t.Fatalf("nmnist train: N=%d Frames=%d labels %v name %q; want 3 samples, 2 frames, labels [0 3 3]", s.Len(), s.Frames, s.Y, s.Name)
	}
	// Files are in label order then by name: sample 1 is 3/a.bin with two OFF events.
	if v := s.Sample(1)[(0*2+0)*34*34+2*34+1]; v != 2 {
		t.Errorf("sample 1 (3/a.bin) OFF count at (y=2,x=1) = %v, want 2", v)
	}
	test, err := Load(ctx, "nmnist", dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 1 || test.Frames != DefaultNMNISTFrames {
		t.Fatalf("nmnist test: N=%d Frames=%d, want 1 and %d", test.Len(), test.Frames, DefaultNMNISTFrames)
	}
	writeFile(t, filepath.Join(root, "Test", "ten", "x.bin"), ev(5, 6, 1, 5))
	_, err = Load(ctx, "nmnist", dir, Test)
	wantFileError(t, err, filepath.Join(root, "Test", "ten"), ErrFormat, "label directory name")
	if _, err := Load(ctx, "nmnist", t.TempDir(), Train); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing nmnist: error %v, want fs.ErrNotExist", err)
	}
}

func TestLoadIDXWrongDimensions(t *testing.T) {
	dir := t.TempDir()
	img, lab := testImages(3, 27, 28)
	ip := writeFile(t, filepath.Join(dir, "fashion-mnist", "train-images-idx3-ubyte.gz"), gzipBytes(t, img))
	writeFile(t, filepath.Join(dir, "fashion-mnist", "train-labels-idx1-ubyte.gz"), gzipBytes(t, lab))
	_, err := LoadWith(context.Background(), "fashion-mnist", dir, Train, &LoadOptions{NoFetch: true})
	wantFileError(t, err, ip, ErrFormat, "image size", "28x28", "found 27x28")
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Load(ctx, "imagenet", "", Train); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown name: error %v, want ErrUnknown", err)
	}
	if _, err := Load(ctx, "synthetic", "", Split(7)); !errors.Is(err, ErrConfig) {
		t.Errorf("bad split: error %v, want ErrConfig", err)
	}
	_, err := LoadWith(ctx, "mnist", t.TempDir(), Train, &LoadOptions{NoFetch: true})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "asf data fetch mnist") {
		t.Errorf("missing mnist with NoFetch: error %v, want fs.ErrNotExist and the fetch command", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Load(cctx, "synthetic", "", Train); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

func TestSetSampleAndSubset(t *testing.T) {
	s := Synthetic(SyntheticConfig{N: 20, Seed: 3, Classes: 4, C: 2, H: 4, W: 5, Noise: 0.1})
	sub := s.Subset([]int{7, 2, 7})
	if sub.Len() != 3 || !slices.Equal(sub.Y, []uint8{3, 2, 3}) || sub.C != 2 || sub.Name != "synthetic" {
		t.Fatalf("Subset: N=%d Y=%v C=%d name %q", sub.Len(), sub.Y, sub.C, sub.Name)
	}
	if !slices.Equal(sub.Sample(1), s.Sample(2)) || !slices.Equal(sub.Sample(2), s.Sample(7)) {
		t.Fatal("Subset samples differ from the originals")
	}
	sub.X[0] = 42 // a copy: the original is untouched
	if s.Sample(7)[0] == 42 {
		t.Fatal("Subset shares memory with the original")
	}
	x := s.Sample(0)
	if cap(x) != len(x) || len(x) != 40 {
		t.Fatalf("Sample(0): len %d cap %d, want 40 and 40", len(x), cap(x))
	}
	if err := (&Set{C: 1, H: 1, W: 1, Frames: 1, Classes: 2, X: []float32{0}, Y: []uint8{2}}).Check(); !errors.Is(err, ErrConfig) {
		t.Fatalf("Check with label 2 of 2 classes: %v, want ErrConfig", err)
	}
}
