package dataset

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// FileInfo describes one data file: its size, digests and, when it is one of
// KnownFiles, which one.
type FileInfo struct {
	Path          string
	Size          int64
	SHA256        string // of the file's bytes
	ContentSHA256 string // of the decompressed bytes when the file is gzip ("" otherwise)
	Known         string // e.g. "mnist train-images-idx3-ubyte (original archive digest)"; "" when unknown
	Count         int    // when Path is a folder of many small files (N-MNIST): how many; no digests then
}

// SplitInfo summarises one split of a data set.
type SplitInfo struct {
	Dataset   string // data set name, or "idx" / "cifar10" for files of unknown origin
	Split     string // "train", "test", or "" for files inspected one by one
	Files     []FileInfo
	N         int
	Frames    int
	C, H, W   int
	Classes   int
	Histogram []int   // samples per class
	Min, Max  float32 // range of the normalised values
	Mean      float32 // mean normalised value
}

// Inspect loads what target names and summarises it. target is one of:
//   - an IDX images file (its labels file is found next to it by the standard naming,
//     "images-idx3" -> "labels-idx1", .gz or not), or an IDX labels file (likewise);
//   - a CIFAR-10 .bin batch file;
//   - a data set directory: one holding the IDX files of mnist/fashion-mnist, the
//     CIFAR-10 batches, nmnist's Train/ and Test/ folders, or the CIFAR10-DVS class
//     folders (split, binned and pooled as opts says), or DVS128 Gesture's trial
//     lists and trials; or a data directory
//     holding such folders under their data set names (every one is inspected);
//   - a data set name (mnist, fashion-mnist, cifar10, nmnist, cifar10dvs, dvs-gesture), looked up as
//     dataDir/<name>, or "synthetic" (generated with opts.Synthetic).
//
// An existing path wins over a name. Inspect never fetches.
func Inspect(ctx context.Context, target, dataDir string, opts *LoadOptions) ([]SplitInfo, error) {
	if opts == nil {
		opts = &LoadOptions{}
	}
	st, err := os.Stat(target)
	switch {
	case err == nil && st.Mode().IsRegular():
		return inspectFile(target)
	case err == nil && st.IsDir():
		return inspectDir(ctx, target, opts)
	case errors.Is(err, fs.ErrNotExist) && target == "synthetic":
		var out []SplitInfo
		for _, sp := range []Split{Train, Test} {
			s, err := LoadWith(ctx, "synthetic", dataDir, sp, opts)
			if err != nil {
				return nil, err
			}
			out = append(out, summarise("synthetic", sp.String(), s, nil))
		}
		return out, nil
	case errors.Is(err, fs.ErrNotExist) && isName(target):
		d := filepath.Join(dataDir, target)
		if _, err := os.Stat(d); err != nil {
			hint := ""
			if target == "mnist" || target == "fashion-mnist" {
				hint = fmt.Sprintf(" (run `asf data fetch %s`)", target)
			}
			return nil, fmt.Errorf("dataset: %s: not in the data directory: %w%s", target, err, hint)
		}
		return inspectDir(ctx, d, opts)
	case err != nil:
		return nil, fmt.Errorf("dataset: %w (want a file, a directory or one of %s)", err, strings.Join(Names, ", "))
	}
	return nil, fmt.Errorf("dataset: %s is neither a regular file nor a directory", target)
}

func isName(s string) bool {
	for _, n := range Names {
		if s == n {
			return true
		}
	}
	return false
}

// idxPartner returns the file that goes with an IDX images or labels file.
func idxPartner(path string) (images, labels string, err error) {
	dir, base := filepath.Split(path)
	var other string
	isImages := strings.Contains(base, "images-idx3")
	switch {
	case isImages:
		other = strings.Replace(base, "images-idx3", "labels-idx1", 1)
	case strings.Contains(base, "labels-idx1"):
		other = strings.Replace(base, "labels-idx1", "images-idx3", 1)
	default:
		return "", "", fmt.Errorf("dataset: %s: cannot tell its kind from the name: want an IDX file named like train-images-idx3-ubyte[.gz] or t10k-labels-idx1-ubyte[.gz], or a CIFAR-10 *.bin batch", path)
	}
	trimmed := strings.TrimSuffix(other, ".gz")
	p, ok := findFile(dir, trimmed)
	if !ok {
		return "", "", fmt.Errorf("dataset: %s: its partner %s[.gz] is missing: %w", path, filepath.Join(dir, trimmed), fs.ErrNotExist)
	}
	if isImages {
		return path, p, nil
	}
	return p, path, nil
}

func inspectFile(path string) ([]SplitInfo, error) {
	if strings.HasSuffix(path, ".bin") {
		s, err := ReadCIFAR10(path)
		if err != nil {
			return nil, err
		}
		return inspected("cifar10", "", s, path)
	}
	images, labels, err := idxPartner(path)
	if err != nil {
		return nil, err
	}
	s, err := ReadIDX(images, labels)
	if err != nil {
		return nil, err
	}
	return inspected("idx", splitOfIDX(images), s, images, labels)
}

func splitOfIDX(images string) string {
	switch {
	case strings.HasPrefix(filepath.Base(images), "train"):
		return "train"
	case strings.HasPrefix(filepath.Base(images), "t10k"):
		return "test"
	}
	return ""
}

// inspected summarises s and describes its files; a data set recognised from the
// digests replaces the placeholder name.
func inspected(name, split string, s *Set, files ...string) ([]SplitInfo, error) {
	infos := make([]FileInfo, 0, len(files))
	for _, f := range files {
		fi, err := describeFile(f)
		if err != nil {
			return nil, err
		}
		if fi.Known != "" && name == "idx" {
			name = strings.Fields(fi.Known)[0]
		}
		infos = append(infos, fi)
	}
	return []SplitInfo{summarise(name, split, s, infos)}, nil
}

func inspectDir(ctx context.Context, dir string, opts *LoadOptions) ([]SplitInfo, error) {
	var out []SplitInfo
	// IDX files (mnist, fashion-mnist).
	for _, sp := range []Split{Train, Test} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ib, _ := idxBase(sp)
		images, ok := findFile(dir, ib)
		if !ok {
			continue
		}
		_, labels, err := idxPartner(images)
		if err != nil {
			return nil, err
		}
		s, err := ReadIDX(images, labels)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(filepath.Clean(dir))
		if !isName(name) {
			name = "idx"
		}
		si, err := inspected(name, sp.String(), s, images, labels)
		if err != nil {
			return nil, err
		}
		out = append(out, si...)
	}
	if len(out) > 0 {
		return out, nil
	}
	// CIFAR-10 batches, in dir or in its cifar-10-batches-bin folder.
	for _, d := range []string{dir, filepath.Join(dir, "cifar-10-batches-bin")} {
		for _, sp := range []Split{Train, Test} {
			files, ok := cifarFilesIn(d, sp)
			if !ok {
				continue
			}
			s, err := ReadCIFAR10(files...)
			if err != nil {
				return nil, err
			}
			si, err := inspected("cifar10", sp.String(), s, files...)
			if err != nil {
				return nil, err
			}
			out = append(out, si...)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	// N-MNIST: dir holds Train/<label>/*.bin and/or Test/<label>/*.bin.
	for _, sp := range []Split{Train, Test} {
		root := filepath.Join(dir, nmnistSplitDir(sp))
		if _, err := os.Stat(root); err != nil {
			continue
		}
		files, labels, err := nmnistFilesIn(root)
		if err != nil {
			return nil, err
		}
		frames := opts.Frames
		if frames == 0 {
			frames = DefaultNMNISTFrames
		}
		s, err := ReadNMNIST(files, labels, frames)
		if err != nil {
			return nil, err
		}
		// Thousands of small files: report the folder, not each file's digest.
		out = append(out, summarise("nmnist", sp.String(), s, []FileInfo{{Path: root, Count: len(files)}}))
	}
	if len(out) > 0 {
		return out, nil
	}
	// CIFAR10-DVS: dir holds the class folders airplane/ ... truck/.
	if st, err := os.Stat(filepath.Join(dir, CIFAR10DVSClasses[0])); err == nil && st.IsDir() {
		all, err := CIFAR10DVSFiles(dir)
		if err != nil {
			return nil, err
		}
		for _, sp := range []Split{Train, Test} {
			files, err := CIFAR10DVSSplit(all, sp, opts.Split, opts.SplitSeed)
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				continue
			}
			s, err := ReadCIFAR10DVS(files, orDefault(opts.Frames, DefaultCIFAR10DVSFrames), orDefault(opts.Pool, DefaultCIFAR10DVSPool))
			if err != nil {
				return nil, err
			}
			out = append(out, summarise("cifar10dvs", sp.String(), s, []FileInfo{{Path: dir, Count: len(files)}}))
		}
		return out, nil
	}
	// DVS128 Gesture: dir (or dir/DvsGesture) holds the trial lists.
	for _, d := range []string{dir, filepath.Join(dir, "DvsGesture")} {
		if _, err := os.Stat(filepath.Join(d, "trials_to_train.txt")); err != nil {
			continue
		}
		for _, sp := range []Split{Train, Test} {
			samples, err := GestureSamples(d, sp)
			if err != nil {
				return nil, err
			}
			s, err := ReadGestures(samples, orDefault(opts.Frames, DefaultGestureFrames), orDefault(opts.Pool, DefaultGesturePool))
			if err != nil {
				return nil, err
			}
			out = append(out, summarise("dvs-gesture", sp.String(), s, []FileInfo{{Path: d, Count: len(samples)}}))
		}
		return out, nil
	}
	// A data directory: inspect each data set folder in it.
	for _, name := range Names {
		sub := filepath.Join(dir, name)
		if st, err := os.Stat(sub); err != nil || !st.IsDir() {
			continue
		}
		infos, err := inspectDir(ctx, sub, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, infos...)
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, fmt.Errorf("dataset: %s: no data set found: want {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (mnist, fashion-mnist), data_batch_1..5.bin / test_batch.bin (cifar10), a folder named nmnist with Train/ and Test/, the CIFAR10-DVS class folders (airplane/cifar10_airplane_0.aedat, ...), or DVS128 Gesture's trials_to_train.txt", dir)
}

// describeFile computes a file's digests and matches them against KnownFiles.
func describeFile(path string) (FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, fmt.Errorf("dataset: %w", err)
	}
	file, err := fileSHA256(path)
	if err != nil {
		return FileInfo{}, err
	}
	content, gz, err := contentSHA256(path)
	if err != nil {
		return FileInfo{}, err
	}
	fi := FileInfo{Path: path, Size: st.Size(), SHA256: file}
	if gz {
		fi.ContentSHA256 = content
	}
	for _, k := range KnownFiles {
		switch {
		case k.ArchiveSHA256 != "" && file == k.ArchiveSHA256:
			fi.Known = k.Dataset + " " + k.Base + " (original archive digest)"
		case content == k.ContentSHA256:
			fi.Known = k.Dataset + " " + k.Base + " (content digest)"
		default:
			continue
		}
		break
	}
	return fi, nil
}

func summarise(name, split string, s *Set, files []FileInfo) SplitInfo {
	si := SplitInfo{Dataset: name, Split: split, Files: files, N: s.Len(), Frames: s.Frames,
		C: s.C, H: s.H, W: s.W, Classes: s.Classes, Histogram: s.Histogram()}
	if n := s.Len() * s.SampleSize(); n > 0 {
		si.Min, si.Max = float32(math.Inf(1)), float32(math.Inf(-1))
		var sum float64
		s.Values(func(_ int, x []float32) {
			for _, v := range x {
				si.Min, si.Max = min(si.Min, v), max(si.Max, v)
				sum += float64(v)
			}
		})
		si.Mean = float32(sum / float64(n))
	}
	return si
}
