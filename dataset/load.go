package dataset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Names lists the data sets Load knows.
var Names = []string{"mnist", "fashion-mnist", "cifar10", "nmnist", "cifar10dvs", "dvs-gesture", "synthetic"}

// IsEventData reports whether data set name holds event recordings binned into
// frames (nmnist, cifar10dvs, dvs-gesture) rather than still images.
func IsEventData(name string) bool {
	return name == "nmnist" || name == "cifar10dvs" || name == "dvs-gesture"
}

// DefaultNMNISTFrames is the number of frames an N-MNIST sample is binned into when
// LoadOptions.Frames is 0: enough to keep the digit's saccade motion, and 10x the
// memory of one frame (60000 samples x 10 x 2x34x34 float32 = 5.5 GB; use fewer
// frames or a subset on small machines).
const DefaultNMNISTFrames = 10

// DefaultFrames returns the number of frames event data set name is binned into when
// LoadOptions.Frames is 0 (DefaultNMNISTFrames, DefaultCIFAR10DVSFrames,
// DefaultGestureFrames), or 1 for image data.
func DefaultFrames(name string) int {
	switch name {
	case "nmnist":
		return DefaultNMNISTFrames
	case "cifar10dvs":
		return DefaultCIFAR10DVSFrames
	case "dvs-gesture":
		return DefaultGestureFrames
	}
	return 1
}

// LoadOptions tunes LoadWith. A nil *LoadOptions means the defaults.
type LoadOptions struct {
	Frames    int              // frames per sample of event data; 0 means the data set's default (DefaultNMNISTFrames, DefaultCIFAR10DVSFrames)
	Split     string           // cifar10dvs: SplitRandom ("" too) or SplitFixed
	SplitSeed uint64           // cifar10dvs: seed of SplitRandom
	Pool      int              // cifar10dvs, dvs-gesture: sum-pooling factor of the 128x128 frames; 0 means DefaultCIFAR10DVSPool, DefaultGesturePool
	Synthetic *SyntheticConfig // the synthetic data set; nil means DefaultSyntheticConfig()
	NoFetch   bool             // do not call Fetch when mnist/fashion-mnist files are missing
	Logger    *slog.Logger     // progress of an automatic fetch; nil discards
}

// Load returns split of data set name read from dir, with the package defaults; see
// LoadWith.
func Load(ctx context.Context, name, dir string, split Split) (*Set, error) {
	return LoadWith(ctx, name, dir, split, nil)
}

// LoadWith returns split of data set name. Where the files live under dir:
//   - "mnist", "fashion-mnist": dir/<name>/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz];
//     when a file is missing, Fetch is called first (unless opts.NoFetch), so first use
//     just works. Images must be 28x28.
//   - "cifar10": the CIFAR-10 binary batches data_batch_1.bin ... data_batch_5.bin
//     (Train) and test_batch.bin (Test) in dir/cifar10 or dir/cifar10/cifar-10-batches-bin.
//   - "nmnist": dir/nmnist/{Train,Test}/<label>/*.bin, one event file per sample, label
//     directories 0..9; files are taken in label order, then by name, and binned into
//     opts.Frames frames.
//   - "cifar10dvs": dir/cifar10dvs/<class>/cifar10_<class>_<i>.aedat (CIFAR10DVSFiles), split by
//     opts.Split (CIFAR10DVSSplit), binned into opts.Frames frames pooled by opts.Pool
//     (ReadCIFAR10DVS).
//   - "dvs-gesture": DVS128 Gesture as released (GestureDir: dir/dvs-gesture[/DvsGesture]),
//     the trials of trials_to_{train,test}.txt cut into gestures by their
//     _labels.csv (GestureSamples), binned into opts.Frames frames pooled by
//     opts.Pool (ReadGestures).
//   - "synthetic": generated, no files: Train is Synthetic(cfg); Test is
//     Synthetic(cfg) with Stream 1 and N = max(1, cfg.N/2) (different samples).
//
// The returned Set's Name is name.
func LoadWith(ctx context.Context, name, dir string, split Split, opts *LoadOptions) (*Set, error) {
	if opts == nil {
		opts = &LoadOptions{}
	}
	if split != Train && split != Test {
		return nil, fmt.Errorf("%w: split %d, want Train or Test", ErrConfig, int(split))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := CheckLoadOptions(name, opts); err != nil {
		return nil, err
	}
	var s *Set
	var err error
	switch name {
	case "mnist", "fashion-mnist":
		s, err = loadIDX(ctx, name, dir, split, opts)
	case "cifar10":
		s, err = loadCIFAR10(dir, split)
	case "nmnist":
		frames := opts.Frames
		if frames == 0 {
			frames = DefaultNMNISTFrames
		}
		s, err = loadNMNIST(dir, split, frames)
	case "cifar10dvs":
		s, err = loadCIFAR10DVS(dir, split, opts)
	case "dvs-gesture":
		s, err = loadGesture(dir, split, opts)
	case "synthetic":
		cfg := DefaultSyntheticConfig()
		if opts.Synthetic != nil {
			cfg = *opts.Synthetic
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		s = Synthetic(SplitConfig(cfg, split))
	default:
		return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknown, name, strings.Join(Names, ", "))
	}
	if err != nil {
		return nil, err
	}
	s.Name = name
	return s, nil
}

// CheckLoadOptions reports options that data set name does not take or values out of
// range; errors wrap ErrConfig (ErrUnknown for an unknown name).
func CheckLoadOptions(name string, opts *LoadOptions) error {
	if !slices.Contains(Names, name) {
		return fmt.Errorf("%w: %q (known: %s)", ErrUnknown, name, strings.Join(Names, ", "))
	}
	if opts == nil {
		return nil
	}
	dvs := name == "cifar10dvs"
	sensor128 := dvs || name == "dvs-gesture"
	switch {
	case opts.Frames < 0:
		return fmt.Errorf("%w: %s: frames = %d, want >= 0 (0 = the default)", ErrConfig, name, opts.Frames)
	case opts.Split != "" && !dvs:
		return fmt.Errorf("%w: %s has its own split; a split (%q) is chosen for cifar10dvs only", ErrConfig, name, opts.Split)
	case opts.Split != "" && opts.Split != SplitRandom && opts.Split != SplitFixed:
		return fmt.Errorf("%w: %s: split %q: want %q (a seeded tenth of each class) or %q (recordings 0..n/10-1)", ErrConfig, name, opts.Split, SplitRandom, SplitFixed)
	case opts.SplitSeed != 0 && !dvs:
		return fmt.Errorf("%w: %s: a split seed (%d) applies to the random split of cifar10dvs only", ErrConfig, name, opts.SplitSeed)
	case opts.Pool != 0 && !sensor128:
		return fmt.Errorf("%w: %s: pooling (%d) applies to the 128x128 event data of cifar10dvs and dvs-gesture only", ErrConfig, name, opts.Pool)
	case opts.Pool < 0 || opts.Pool > dvsSide:
		return fmt.Errorf("%w: %s: pool = %d, want 1..%d (0 = the data set's default)", ErrConfig, name, opts.Pool, dvsSide)
	}
	return nil
}

// SplitConfig returns the configuration of split of the synthetic data set cfg: cfg
// itself for Train; Stream 1 and N = max(1, cfg.N/2) for Test.
func SplitConfig(cfg SyntheticConfig, split Split) SyntheticConfig {
	if split == Test {
		cfg.Stream = 1
		cfg.N = max(1, cfg.N/2)
	}
	return cfg
}

func loadIDX(ctx context.Context, name, dir string, split Split, opts *LoadOptions) (*Set, error) {
	ib, lb := idxBase(split)
	d := filepath.Join(dir, name)
	images, iok := findFile(d, ib)
	labels, lok := findFile(d, lb)
	if !iok || !lok {
		if opts.NoFetch {
			return nil, fmt.Errorf("dataset: %s %s: %s or %s missing in %s: %w (run `asf data fetch %s`)", name, split, ib, lb, d, fs.ErrNotExist, name)
		}
		if _, err := FetchWith(ctx, name, dir, &FetchOptions{Logger: opts.Logger}); err != nil {
			return nil, err
		}
		images, _ = findFile(d, ib)
		labels, _ = findFile(d, lb)
	}
	s, err := ReadIDX(images, labels)
	if err != nil {
		if errors.Is(err, ErrFormat) || errors.Is(err, ErrChecksum) {
			// A damaged copy of a fetched data set: say how to get a good one.
			return nil, fmt.Errorf("%w (remove %s and run `asf data fetch %s` to copy it again)", err, d, name)
		}
		return nil, err
	}
	if s.H != 28 || s.W != 28 {
		return nil, formatErr(images, "image size", fmt.Sprintf("28x28 (%s)", name), fmt.Sprintf("%dx%d", s.H, s.W))
	}
	return s, nil
}

// cifarBatchNames are the CIFAR-10 binary batch files of a split.
func cifarBatchNames(split Split) []string {
	if split == Test {
		return []string{"test_batch.bin"}
	}
	return []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
}

// cifarFilesIn returns split's batch files directly in d, or false when any is missing.
func cifarFilesIn(d string, split Split) ([]string, bool) {
	var files []string
	for _, n := range cifarBatchNames(split) {
		p := filepath.Join(d, n)
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			return nil, false
		}
		files = append(files, p)
	}
	return files, true
}

// CIFAR10Files returns the batch files of split under dir (dir/cifar10 or
// dir/cifar10/cifar-10-batches-bin), or an error saying which files to place where.
func CIFAR10Files(dir string, split Split) ([]string, error) {
	d1 := filepath.Join(dir, "cifar10")
	d2 := filepath.Join(d1, "cifar-10-batches-bin")
	for _, d := range []string{d1, d2} {
		if files, ok := cifarFilesIn(d, split); ok {
			return files, nil
		}
	}
	return nil, fmt.Errorf("dataset: cifar10 %s: %w: want %v in %s or %s; extract the CIFAR-10 binary version (cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html) there",
		split, fs.ErrNotExist, cifarBatchNames(split), d1, d2)
}

func loadCIFAR10(dir string, split Split) (*Set, error) {
	files, err := CIFAR10Files(dir, split)
	if err != nil {
		return nil, err
	}
	return ReadCIFAR10(files...)
}

// nmnistSplitDir is the folder name of an N-MNIST split.
func nmnistSplitDir(split Split) string {
	if split == Test {
		return "Test"
	}
	return "Train"
}

// NMNISTFiles lists the event files of split under dir/nmnist/{Train,Test}/<label>/
// (*.bin, label directories 0..9), in label order then by name, with their labels.
func NMNISTFiles(dir string, split Split) ([]string, []uint8, error) {
	return nmnistFilesIn(filepath.Join(dir, "nmnist", nmnistSplitDir(split)))
}

// nmnistFilesIn lists root/<label>/*.bin.
func nmnistFilesIn(root string) ([]string, []uint8, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("dataset: nmnist: %w: want %s/<label>/*.bin (label directories 0..9, the layout of the N-MNIST Train.zip/Test.zip)", err, root)
		}
		return nil, nil, fmt.Errorf("dataset: nmnist: %w", err)
	}
	var files []string
	var labels []uint8
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		label, err := strconv.Atoi(e.Name())
		if err != nil || label < 0 || label > 9 {
			return nil, nil, formatErr(filepath.Join(root, e.Name()), "label directory name", "a class 0..9", strconv.Quote(e.Name()))
		}
		bins, err := filepath.Glob(filepath.Join(root, e.Name(), "*.bin"))
		if err != nil {
			return nil, nil, fmt.Errorf("dataset: nmnist: %w", err)
		}
		sort.Strings(bins)
		for _, b := range bins {
			files = append(files, b)
			labels = append(labels, uint8(label))
		}
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("dataset: nmnist: %w: no %s/<label>/*.bin event files", fs.ErrNotExist, root)
	}
	return files, labels, nil
}

func loadNMNIST(dir string, split Split, frames int) (*Set, error) {
	files, labels, err := NMNISTFiles(dir, split)
	if err != nil {
		return nil, err
	}
	return ReadNMNIST(files, labels, frames)
}
