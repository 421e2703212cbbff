package dataset

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	d := filepath.Join(dataDir, "mnist")
	img, lab := testImages(12, 28, 28)
	ip := writeFile(t, filepath.Join(d, "train-images-idx3-ubyte.gz"), gzipBytes(t, img))
	lp := writeFile(t, filepath.Join(d, "train-labels-idx1-ubyte"), lab)

	check := func(name string, infos []SplitInfo, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(infos) != 1 {
			t.Fatalf("%s: %d splits, want 1", name, len(infos))
		}
		si := infos[0]
		if si.N != 12 || si.H != 28 || si.W != 28 || si.Split != "train" || !slices.Equal(si.Histogram, []int{2, 2, 1, 1, 1, 1, 1, 1, 1, 1}) {
			t.Fatalf("%s: %+v", name, si)
		}
		if len(si.Files) != 2 || si.Files[0].Path != ip || si.Files[1].Path != lp {
			t.Fatalf("%s: files %+v, want %s and %s", name, si.Files, ip, lp)
		}
		if si.Files[0].SHA256 != sha(gzipBytes(t, img)) || si.Files[0].ContentSHA256 != sha(img) || si.Files[1].SHA256 != sha(lab) || si.Files[1].ContentSHA256 != "" {
			t.Fatalf("%s: digests %+v", name, si.Files)
		}
		if si.Min < 0 || si.Max > 1 || si.Max == 0 {
			t.Fatalf("%s: value range [%v, %v]", name, si.Min, si.Max)
		}
	}
	infos, err := Inspect(ctx, "mnist", dataDir, nil)
	check("by name", infos, err)
	if infos[0].Dataset != "mnist" {
		t.Errorf("by name: data set %q, want mnist", infos[0].Dataset)
	}
	infos, err = Inspect(ctx, d, "elsewhere", nil)
	check("by directory", infos, err)
	infos, err = Inspect(ctx, ip, "elsewhere", nil)
	check("by images file", infos, err)
	if infos[0].Dataset != "idx" {
		t.Errorf("a file of unknown origin: data set %q, want idx", infos[0].Dataset)
	}
	infos, err = Inspect(ctx, lp, "elsewhere", nil)
	check("by labels file", infos, err)

	// Known digests are recognised.
	withKnownFiles(t, []KnownFile{{"fashion-mnist", "train-images-idx3-ubyte", "", sha(img)}})
	infos, err = Inspect(ctx, ip, "", nil)
	if err != nil || infos[0].Dataset != "fashion-mnist" || !strings.Contains(infos[0].Files[0].Known, "fashion-mnist train-images-idx3-ubyte (content digest)") {
		t.Fatalf("known content digest not recognised: %v %+v", err, infos)
	}
}

func TestInspectOtherSets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cif := writeFile(t, filepath.Join(dir, "cifar10", "test_batch.bin"), cifarRecords(3))
	infos, err := Inspect(ctx, filepath.Join(dir, "cifar10"), "", nil)
	if err != nil || len(infos) != 1 || infos[0].Dataset != "cifar10" || infos[0].Split != "test" || infos[0].N != 3 || infos[0].C != 3 {
		t.Fatalf("cifar10 dir: %v %+v", err, infos)
	}
	infos, err = Inspect(ctx, cif, "", nil)
	if err != nil || infos[0].N != 3 || infos[0].Files[0].SHA256 != sha(cifarRecords(3)) {
		t.Fatalf("cifar10 file: %v %+v", err, infos)
	}
	writeFile(t, filepath.Join(dir, "nmnist", "Train", "4", "a.bin"), ev(1, 1, 1, 1))
	infos, err = Inspect(ctx, "nmnist", dir, &LoadOptions{Frames: 3})
	if err != nil || len(infos) != 1 || infos[0].N != 1 || infos[0].Frames != 3 || infos[0].Files[0].Count != 1 || infos[0].Histogram[4] != 1 {
		t.Fatalf("nmnist: %v %+v", err, infos)
	}
	infos, err = Inspect(ctx, dir, "", &LoadOptions{Frames: 3})
	if err != nil || len(infos) != 2 || infos[0].Dataset != "cifar10" || infos[1].Dataset != "nmnist" {
		t.Fatalf("data directory: %v %+v", err, infos)
	}
	infos, err = Inspect(ctx, "synthetic", t.TempDir(), nil)
	if err != nil || len(infos) != 2 || infos[0].N != 2000 || infos[1].N != 1000 {
		t.Fatalf("synthetic: %v %+v", err, infos)
	}
}

func TestInspectErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := Inspect(ctx, "fashion-mnist", dir, nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "asf data fetch fashion-mnist") {
		t.Errorf("absent data set: %v", err)
	}
	img, _ := testImages(2, 28, 28)
	ip := writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), img)
	if _, err := Inspect(ctx, ip, dir, nil); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "t10k-labels-idx1-ubyte") {
		t.Errorf("images without labels: %v", err)
	}
	other := writeFile(t, filepath.Join(dir, "notes.txt"), []byte("hi"))
	if _, err := Inspect(ctx, other, dir, nil); err == nil || !strings.Contains(err.Error(), "cannot tell its kind") {
		t.Errorf("unrelated file: %v", err)
	}
	if _, err := Inspect(ctx, t.TempDir(), dir, nil); err == nil || !strings.Contains(err.Error(), "no data set found") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := Inspect(ctx, "no-such-thing", dir, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unknown target: %v", err)
	}
}
