package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asfnet/asf/internal/atomicfile"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// StoreFormat is the layout version of the bbolt file this build writes and reads.
const StoreFormat uint32 = 1

// chunkSize bounds each stored value of an encoded checkpoint, so that no single
// bbolt value grows with the network.
const chunkSize = 1 << 20

// Top-level buckets and keys of the file layout:
//
//	asf/format                        uint32 StoreFormat (marks the file as a store)
//	jobs/<job>                        the job's configuration (JSON)
//	checkpoints/<job>/index/<id>      index record (Info), id big-endian uint64
//	checkpoints/<job>/data/<id><n>    chunk n (big-endian uint32) of the encoded state
//	metrics/<job>/<seq>               a MetricPoint, seq big-endian uint64
var (
	bucketMeta    = []byte("asf")
	bucketJobs    = []byte("jobs")
	bucketCkpt    = []byte("checkpoints")
	bucketMetrics = []byte("metrics")
	bucketIndex   = []byte("index")
	bucketData    = []byte("data")
	keyFormat     = []byte("format")
	keyCreated    = []byte("created")
)

// Options configure a Store. A nil *Options means DefaultOptions().
type Options struct {
	// Timeout bounds the wait for the file lock another process holds; then Open
	// fails with ErrLocked. Must be > 0: an endless wait is never wanted.
	Timeout time.Duration
	// KeepLast is how many of a job's newest checkpoints Save keeps (>= 1).
	KeepLast int
	// KeepBest is how many checkpoints with the highest test accuracy Save keeps
	// besides the newest ones (>= 0).
	KeepBest int
	// ReadOnly opens the file with a shared lock and never creates or changes it.
	ReadOnly bool
	// Logger receives reports of corrupt checkpoints skipped; nil discards.
	Logger *slog.Logger
	// Recover makes Open check the whole file first (Inspect) and, if it is
	// damaged, set it aside and open a store salvaged from it (Repair) instead,
	// logging what was kept and lost. Ignored with ReadOnly.
	Recover bool
}

// DefaultOptions returns the options a nil *Options stands for.
func DefaultOptions() Options {
	return Options{
		Timeout:  2 * time.Second, // a restarting coordinator's predecessor has let go by then; a CLI user is told quickly
		KeepLast: 3,               // survives a couple of bad saves in a row, costs 3x the model on disk
		KeepBest: 1,               // the model worth exporting, even after accuracy falls
		ReadOnly: false,           // the coordinator writes
		Logger:   nil,             // a library is silent unless given a logger
		Recover:  false,           // a tool opening a store says what is wrong rather than repairing it unasked
	}
}

// Validate rejects options that cannot work, naming the field.
func (o Options) Validate() error {
	switch {
	case o.Timeout <= 0:
		return fmt.Errorf("%w: Timeout is %v, want > 0 (an endless wait for the lock is never wanted)", ErrOptions, o.Timeout)
	case o.KeepLast < 1:
		return fmt.Errorf("%w: KeepLast is %d, want >= 1 (the newest checkpoint is always kept)", ErrOptions, o.KeepLast)
	case o.KeepBest < 0:
		return fmt.Errorf("%w: KeepBest is %d, want >= 0", ErrOptions, o.KeepBest)
	}
	return nil
}

// Store is a checkpoint store: one bbolt file holding jobs, checkpoints and
// metrics histories. Its methods are safe for concurrent use; one Store per
// file per process (the file lock excludes a second writer).
type Store struct {
	db      *bolt.DB
	path    string
	opts    Options
	log     *slog.Logger
	broken  atomic.Pointer[error] // set when bbolt panicked or faulted on the file
	salvage *SalvageReport
}

// Open opens the store at path, creating it unless opts.ReadOnly. It fails with
// ErrLocked if another process holds the file for longer than opts.Timeout, with
// ErrNotStore if the file is not a bbolt file or is one of another program, and
// with ErrVersion if the store was written in another layout version. On failure
// the file is left as it was.
func Open(path string, opts *Options) (*Store, error) {
	o := DefaultOptions()
	if opts != nil {
		o = *opts
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, fmt.Errorf("%w: %s is a directory", ErrNotStore, path)
	case err == nil && o.ReadOnly && fi.Size() == 0:
		return nil, fmt.Errorf("%w: %s is empty", ErrNotStore, path)
	case errors.Is(err, fs.ErrNotExist) && o.ReadOnly:
		return nil, fmt.Errorf("checkpoint: open store %s: %w", path, fs.ErrNotExist)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("checkpoint: open store: %w", err)
	}

	var salvage *SalvageReport
	if o.Recover && !o.ReadOnly {
		if salvage, err = Repair(path, &o); err != nil {
			return nil, err
		}
		if salvage != nil {
			logSalvage(log, salvage)
		}
	}
	s := &Store{path: path, opts: o, log: log, salvage: salvage}
	err = s.guard("open", func() error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, ReadOnly: o.ReadOnly})
		if err != nil {
			return openError(path, o.Timeout, err)
		}
		s.db = db
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.checkLayout(); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// logSalvage reports a repair at open.
func logSalvage(log *slog.Logger, r *SalvageReport) {
	first := ""
	if len(r.Problems) > 0 {
		first = r.Problems[0].String()
	}
	log.Error("the checkpoint store was damaged: set it aside and salvaged what verifies", "damaged", r.Damaged, "store", r.Store,
		"problems", len(r.Problems), "first_problem", first, "jobs", r.Jobs, "checkpoints", r.Checkpoints, "metrics", r.Metrics,
		"lost_checkpoints", r.LostCheckpoints, "lost_metrics", r.LostMetrics, "lost_jobs", r.LostJobs, "from_older_meta", r.FromOlderMeta)
	for job, in := range r.Newest {
		log.Warn("salvaged store continues from", "job", job, "checkpoint", in.ID, "step", in.Step)
	}
}

// Salvaged is what Open with Options.Recover salvaged from a damaged file, or
// nil if the file was sound.
func (s *Store) Salvaged() *SalvageReport { return s.salvage }

// guard runs fn, which touches bbolt, so that nothing the file holds can crash
// the process: a panic in bbolt (it trusts its pages) and a memory fault on the
// mapped file (debug.SetPanicOnFault, on this goroutine, which is the one bbolt
// reads the map on) become ErrDamaged naming the file. After that the Store
// refuses further work with the same error: bbolt's state may be inconsistent.
func (s *Store) guard(op string, fn func() error) (err error) {
	if e := s.broken.Load(); e != nil {
		return *e
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: bbolt failed during %s: %v (the file's pages are inconsistent; open it with recovery, or run asf checkpoint salvage)",
				ErrDamaged, s.path, op, r)
			s.broken.CompareAndSwap(nil, &err)
			s.log.Error("checkpoint store damaged", "store", s.path, "op", op, "err", err)
		}
	}()
	return fn()
}

func openError(path string, timeout time.Duration, err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		holder := lockHolder(path)
		if holder != "" {
			holder = " (" + holder + ")"
		}
		return fmt.Errorf("%w: %s: another process holds the file%s; gave up after %v (stop it, or read a backup copy)",
			ErrLocked, path, holder, timeout)
	case errors.As(err, &pe):
		return fmt.Errorf("checkpoint: open store %s: %w", path, err)
	default:
		return fmt.Errorf("%w: %s is not a bbolt file (%s %v)", ErrNotStore, path, sniff(path), err)
	}
}

// sniff names what a file that is not a store looks like, for error messages.
func sniff(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable:"
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	kinds := []struct{ magic, name string }{
		{"\x89PNG", "a PNG image"}, {"\x1f\x8b", "gzip data"}, {"PK\x03\x04", "a zip archive"},
		{"SQLite format 3", "an SQLite database"}, {"\x7fELF", "an ELF executable"},
	}
	for _, k := range kinds {
		if bytes.HasPrefix(head, []byte(k.magic)) {
			return "it looks like " + k.name + ";"
		}
	}
	if len(head) >= 8 && bytes.Equal(head[8:min(len(head), 8+1)], []byte("{")) {
		return "it looks like a safetensors file;"
	}
	return fmt.Sprintf("starts with %q:", head)
}

// decodeFormat reads the format marker: the uint32 version, then (since the
// records got checksums) its crc32c, so that a changed byte of it is damage,
// not a store of another version.
func decodeFormat(v []byte) (uint32, error) {
	switch len(v) {
	case 4:
		return binary.LittleEndian.Uint32(v), nil
	case 8:
		b, err := openCRC(v, "format marker")
		if err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint32(b), nil
	}
	return 0, fmt.Errorf("format marker is %d bytes, want 4 or 8", len(v))
}

// checkLayout makes sure the file is a store of this layout version, and
// initializes a new (empty) bbolt file.
func (s *Store) checkLayout() error {
	var empty bool
	err := s.view("open", func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var names []string
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, fmt.Sprintf("%q", name))
				return nil
			})
			if len(names) > 0 {
				return fmt.Errorf("%w: %s is a bbolt database of another program (buckets %s, no %q bucket)",
					ErrNotStore, s.path, strings.Join(names, ", "), bucketMeta)
			}
			empty = true
			return nil
		}
		f, err := decodeFormat(meta.Get(keyFormat))
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrNotStore, s.path, err)
		}
		if f != StoreFormat {
			return fmt.Errorf("%w: %s: store format version %d found, this build reads version %d", ErrVersion, s.path, f, StoreFormat)
		}
		return nil
	})
	if err != nil || !empty || s.opts.ReadOnly {
		return err
	}
	return s.update("open", func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyFormat, sealCRC(binary.LittleEndian.AppendUint32(nil, StoreFormat))); err != nil {
			return err
		}
		now, _ := time.Now().UTC().MarshalBinary()
		if err := meta.Put(keyCreated, now); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketJobs, bucketCkpt, bucketMetrics} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close releases the file and its lock. After bbolt failed on the file (see
// ErrDamaged) its locks may be held by the failed transaction; Close then gives
// up after the store's lock timeout and says so instead of hanging.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	if s.broken.Load() == nil {
		err := s.guardClose()
		if err == nil || s.broken.Load() == nil {
			return err
		}
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("%w: %s: close: %v", ErrDamaged, s.path, r)
			}
		}()
		done <- s.db.Close()
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(s.opts.Timeout):
		return fmt.Errorf("%w: %s: close did not finish within %v after bbolt failed on the file", ErrDamaged, s.path, s.opts.Timeout)
	}
}

func (s *Store) guardClose() error {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				e := fmt.Errorf("%w: %s: bbolt failed during close: %v", ErrDamaged, s.path, r)
				s.broken.CompareAndSwap(nil, &e)
				err = e
			}
		}()
		err = s.db.Close()
	}()
	return err
}

// view and update run a bbolt transaction under guard.
func (s *Store) view(op string, fn func(*bolt.Tx) error) error {
	return s.guard(op, func() error { return s.db.View(fn) })
}

func (s *Store) update(op string, fn func(*bolt.Tx) error) error {
	return s.guard(op, func() error { return s.db.Update(fn) })
}

// Tx is a transaction on a store, handed to the closures of Update and View.
// Everything done through one Tx commits or rolls back whole. A Tx must not be
// used after its closure returns.
type Tx struct {
	s  *Store
	tx *bolt.Tx
}

// Update runs fn in a read-write transaction: if fn returns nil the transaction
// commits (and is on disk when Update returns), otherwise nothing it did stays.
func (s *Store) Update(fn func(*Tx) error) error {
	if s.opts.ReadOnly {
		return fmt.Errorf("checkpoint: store %s is open read-only", s.path)
	}
	return s.update("update", func(tx *bolt.Tx) error { return fn(&Tx{s: s, tx: tx}) })
}

// View runs fn in a read-only transaction that sees one consistent snapshot.
func (s *Store) View(fn func(*Tx) error) error {
	return s.view("view", func(tx *bolt.Tx) error { return fn(&Tx{s: s, tx: tx}) })
}

// PutJob records (or replaces) a job's configuration, which must be valid JSON.
func (s *Store) PutJob(id string, config []byte) error {
	return s.Update(func(tx *Tx) error { return tx.PutJob(id, config) })
}

// Job returns the configuration PutJob recorded; ErrJobNotFound if none.
func (s *Store) Job(id string) (config []byte, err error) {
	err = s.View(func(tx *Tx) error { config, err = tx.Job(id); return err })
	return config, err
}

// Jobs lists every job the store knows of (a job record, checkpoints or metrics),
// sorted.
func (s *Store) Jobs() (ids []string, err error) {
	err = s.View(func(tx *Tx) error { ids = tx.Jobs(); return nil })
	return ids, err
}

// Save stores st as a new checkpoint of st.Job in one transaction and applies the
// retention policy (Options.KeepLast and KeepBest) in the same transaction. The
// state is encoded and checksummed before the transaction starts. It returns the
// new checkpoint's id.
func (s *Store) Save(st *State) (id uint64, err error) {
	enc, err := EncodeState(st)
	if err != nil {
		return 0, err
	}
	in := newInfo(st, enc)
	err = s.Update(func(tx *Tx) error {
		id, err = tx.saveEncoded(in, enc)
		return err
	})
	return id, err
}

// Latest returns the newest checkpoint of job that verifies. Corrupt newer ones
// are logged and skipped. It fails with ErrJobNotFound if the store does not know
// the job, and with ErrNoCheckpoint if none verifies.
func (s *Store) Latest(job string) (st *State, in Info, err error) {
	err = s.View(func(tx *Tx) error { st, in, err = tx.Latest(job); return err })
	return st, in, err
}

// Load returns checkpoint id of job after verifying it (ErrCorrupt if it does
// not, ErrNotFound if it does not exist).
func (s *Store) Load(job string, id uint64) (st *State, in Info, err error) {
	err = s.View(func(tx *Tx) error { st, in, err = tx.Load(job, id); return err })
	return st, in, err
}

// List returns the index of job's checkpoints, oldest first, without verifying
// them; job "" lists every job's. A record that does not decode is listed with
// only ID and Job set.
func (s *Store) List(job string) (infos []Info, err error) {
	err = s.View(func(tx *Tx) error { infos, err = tx.List(job); return err })
	return infos, err
}

// Verify reads and checks every checkpoint of job (job "" for all jobs), oldest
// first. A corrupt checkpoint is a result with Err set, not an error of Verify.
func (s *Store) Verify(job string) (res []VerifyResult, err error) {
	err = s.View(func(tx *Tx) error { res, err = tx.Verify(job); return err })
	return res, err
}

// Prune applies a retention policy now: it keeps job's keepLast newest
// checkpoints, its keepBest best by test accuracy, and always the newest one that
// verifies; it deletes the rest and returns their ids.
func (s *Store) Prune(job string, keepLast, keepBest int) (deleted []uint64, err error) {
	err = s.Update(func(tx *Tx) error { deleted, err = tx.Prune(job, keepLast, keepBest); return err })
	return deleted, err
}

// AppendMetrics adds points to their jobs' metrics histories in one transaction.
func (s *Store) AppendMetrics(points ...MetricPoint) error {
	return s.Update(func(tx *Tx) error { return tx.AppendMetrics(points...) })
}

// Metrics returns job's metrics history in the order it was appended.
func (s *Store) Metrics(job string) (points []MetricPoint, err error) {
	err = s.View(func(tx *Tx) error { points, err = tx.Metrics(job); return err })
	return points, err
}

// Check copies the store from one read transaction and checks the copy page by
// page as Inspect does (bbolt's own Tx.Check trusts the pages it checks, in a
// goroutine no recover covers). It returns the report; err is ErrDamaged if the
// report lists problems.
func (s *Store) Check() (*FileReport, error) {
	var buf bytes.Buffer
	if _, err := s.Backup(&buf); err != nil {
		return nil, err
	}
	rep := inspectBytes(s.path, buf.Bytes(), false).rep
	return rep, rep.Err()
}

// Backup writes a consistent copy of the whole store to w from one read
// transaction; writers go on meanwhile. It returns the bytes written.
func (s *Store) Backup(w io.Writer) (n int64, err error) {
	err = s.view("backup", func(tx *bolt.Tx) error {
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupStream is Backup for a stream that must announce the copy's size
// first: start is called with it, in the same read transaction, before the
// bytes go to w.
func (s *Store) BackupStream(start func(size int64) error, w io.Writer) (n int64, err error) {
	err = s.view("backup", func(tx *bolt.Tx) error {
		if err := start(tx.Size()); err != nil {
			return err
		}
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupTo writes a consistent copy of the store to path with atomicfile (a
// temporary file beside it, synced, renamed over path, the directory synced),
// so that path is either the old file or a complete copy. path must not be the
// store itself.
func (s *Store) BackupTo(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if own, err2 := os.Stat(s.path); err2 == nil && os.SameFile(fi, own) {
			return fmt.Errorf("checkpoint: backup to %s: that is the store itself", path)
		}
	}
	// 0o600 as the store itself: a backup holds the same data.
	if _, err := atomicfile.Write(path, 0o600, func(w io.Writer) error { _, err := s.Backup(w); return err }); err != nil {
		return fmt.Errorf("checkpoint: backup: %w", err)
	}
	return nil
}

// --- transaction operations ---

func u64key(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func chunkKey(id uint64, n int) []byte {
	return binary.BigEndian.AppendUint32(u64key(id), uint32(n))
}

func (tx *Tx) bucket(names ...[]byte) *bolt.Bucket {
	b := tx.tx.Bucket(names[0])
	for _, n := range names[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket(n)
	}
	return b
}

func (tx *Tx) writable() error {
	if !tx.tx.Writable() {
		return errors.New("checkpoint: write in a read-only transaction (use Store.Update)")
	}
	return nil
}

// known reports whether the store has anything for job.
func (tx *Tx) known(job string) bool {
	return tx.bucket(bucketJobs) != nil && tx.bucket(bucketJobs).Get([]byte(job)) != nil ||
		tx.bucket(bucketCkpt, []byte(job)) != nil ||
		tx.bucket(bucketMetrics, []byte(job)) != nil
}

func (tx *Tx) notFound(job string) error {
	jobs := tx.Jobs()
	list := "none"
	if len(jobs) > 0 {
		list = strings.Join(jobs, ", ")
	}
	return fmt.Errorf("%w: no job %q in %s (jobs: %s)", ErrJobNotFound, job, tx.s.path, list)
}

// PutJob records (or replaces) a job's configuration, which must be valid JSON.
func (tx *Tx) PutJob(id string, config []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if err := ValidateJobID(id); err != nil {
		return err
	}
	if !json.Valid(config) {
		return fmt.Errorf("%w: job %q: configuration is not valid JSON", ErrInvalidState, id)
	}
	b, err := tx.tx.CreateBucketIfNotExists(bucketJobs)
	if err != nil {
		return err
	}
	return b.Put([]byte(id), encodeJob(config))
}

// Job returns the configuration PutJob recorded; ErrJobNotFound if none.
func (tx *Tx) Job(id string) ([]byte, error) {
	if b := tx.bucket(bucketJobs); b != nil {
		if v := b.Get([]byte(id)); v != nil {
			config, err := decodeJob(v, id)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", tx.s.path, err)
			}
			return bytes.Clone(config), nil
		}
	}
	if tx.known(id) {
		return nil, fmt.Errorf("%w: job %q has checkpoints or metrics in %s but no recorded configuration", ErrJobNotFound, id, tx.s.path)
	}
	return nil, tx.notFound(id)
}

// Jobs lists every job the store knows of, sorted.
func (tx *Tx) Jobs() []string {
	set := map[string]bool{}
	if b := tx.bucket(bucketJobs); b != nil {
		_ = b.ForEach(func(k, _ []byte) error { set[string(k)] = true; return nil })
	}
	for _, top := range [][]byte{bucketCkpt, bucketMetrics} {
		if b := tx.bucket(top); b != nil {
			_ = b.ForEachBucket(func(k []byte) error { set[string(k)] = true; return nil })
		}
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func newInfo(st *State, enc []byte) *Info {
	return &Info{
		Job:         st.Job,
		Spec:        st.Spec,
		Epoch:       st.Epoch,
		Step:        st.Step,
		StepInEpoch: st.StepInEpoch,
		Size:        int64(len(enc)),
		Chunks:      (len(enc) + chunkSize - 1) / chunkSize,
		Checksum:    sha256.Sum256(enc),
		Format:      StateFormat,
		Metrics:     st.Metrics,
	}
}

// Save stores st as a new checkpoint in this transaction and applies the
// store's retention policy; see Store.Save.
func (tx *Tx) Save(st *State) (uint64, error) {
	enc, err := EncodeState(st)
	if err != nil {
		return 0, err
	}
	return tx.saveEncoded(newInfo(st, enc), enc)
}

func (tx *Tx) saveEncoded(in *Info, enc []byte) (uint64, error) {
	if err := tx.writable(); err != nil {
		return 0, err
	}
	top, err := tx.tx.CreateBucketIfNotExists(bucketCkpt)
	if err != nil {
		return 0, err
	}
	jb, err := top.CreateBucketIfNotExists([]byte(in.Job))
	if err != nil {
		return 0, err
	}
	idx, err := jb.CreateBucketIfNotExists(bucketIndex)
	if err != nil {
		return 0, err
	}
	data, err := jb.CreateBucketIfNotExists(bucketData)
	if err != nil {
		return 0, err
	}
	id, err := idx.NextSequence()
	if err != nil {
		return 0, err
	}
	in.ID = id
	in.Saved = time.Now()
	for n := 0; n*chunkSize < len(enc); n++ {
		if err := data.Put(chunkKey(id, n), enc[n*chunkSize:min(len(enc), (n+1)*chunkSize)]); err != nil {
			return 0, fmt.Errorf("checkpoint: save job %q: chunk %d: %w", in.Job, n, err)
		}
	}
	if err := idx.Put(u64key(id), encodeInfo(in)); err != nil {
		return 0, fmt.Errorf("checkpoint: save job %q: index: %w", in.Job, err)
	}
	if _, err := tx.retain(in.Job, tx.s.opts.KeepLast, tx.s.opts.KeepBest, id); err != nil {
		return 0, err
	}
	return id, nil
}

type indexEntry struct {
	id  uint64
	in  Info
	err error // the record does not decode
}

func (tx *Tx) index(job string) []indexEntry {
	idx := tx.bucket(bucketCkpt, []byte(job), bucketIndex)
	if idx == nil {
		return nil
	}
	var out []indexEntry
	_ = idx.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			out = append(out, indexEntry{err: fmt.Errorf("%w: job %q: index key %x is not 8 bytes", ErrCorrupt, job, k)})
			return nil
		}
		id := binary.BigEndian.Uint64(k)
		in, err := decodeInfo(v, job, id)
		out = append(out, indexEntry{id: id, in: in, err: err})
		return nil
	})
	return out
}

// List returns job's checkpoints, oldest first (job "" for every job's).
func (tx *Tx) List(job string) ([]Info, error) {
	jobs, err := tx.jobsFor(job)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, j := range jobs {
		for _, e := range tx.index(j) {
			if e.err != nil {
				e.in = Info{ID: e.id, Job: j}
			}
			out = append(out, e.in)
		}
	}
	return out, nil
}

func (tx *Tx) jobsFor(job string) ([]string, error) {
	if job == "" {
		return tx.Jobs(), nil
	}
	if !tx.known(job) {
		return nil, tx.notFound(job)
	}
	return []string{job}, nil
}

// read loads and verifies one checkpoint.
func (tx *Tx) read(job string, e indexEntry) (*State, error) {
	if e.err != nil {
		return nil, e.err
	}
	in := e.in
	if in.Format != StateFormat {
		return nil, fmt.Errorf("%w: job %q checkpoint %d: state format version %d found, this build reads version %d",
			ErrVersion, job, in.ID, in.Format, StateFormat)
	}
	data := tx.bucket(bucketCkpt, []byte(job), bucketData)
	if data == nil {
		return nil, fmt.Errorf("%w: job %q checkpoint %d: data bucket missing", ErrCorrupt, job, in.ID)
	}
	prefix := u64key(in.ID)
	var parts [][]byte
	var total int64
	c := data.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != 12 || binary.BigEndian.Uint32(k[8:]) != uint32(len(parts)) {
			return nil, fmt.Errorf("%w: job %q checkpoint %d: chunk key %x where chunk %d was expected", ErrCorrupt, job, in.ID, k, len(parts))
		}
		parts = append(parts, v)
		total += int64(len(v))
	}
	if len(parts) != in.Chunks || total != in.Size {
		return nil, fmt.Errorf("%w: job %q checkpoint %d: index records %d chunks of %d bytes, found %d chunks of %d bytes",
			ErrCorrupt, job, in.ID, in.Chunks, in.Size, len(parts), total)
	}
	enc := make([]byte, 0, total)
	for _, p := range parts {
		enc = append(enc, p...)
	}
	if sum := sha256.Sum256(enc); sum != in.Checksum {
		return nil, fmt.Errorf("%w: job %q checkpoint %d: checksum mismatch: index records sha256 %x, data hashes to %x",
			ErrCorrupt, job, in.ID, in.Checksum[:8], sum[:8])
	}
	st, err := DecodeState(enc)
	if err != nil {
		return nil, fmt.Errorf("job %q checkpoint %d: %w", job, in.ID, err)
	}
	if st.Job != job {
		return nil, fmt.Errorf("%w: job %q checkpoint %d holds the state of job %q", ErrCorrupt, job, in.ID, st.Job)
	}
	return st, nil
}

// Load returns checkpoint id of job after verifying it.
func (tx *Tx) Load(job string, id uint64) (*State, Info, error) {
	if !tx.known(job) {
		return nil, Info{}, tx.notFound(job)
	}
	for _, e := range tx.index(job) {
		if e.id == id {
			st, err := tx.read(job, e)
			return st, e.in, err
		}
	}
	return nil, Info{}, fmt.Errorf("%w: job %q has no checkpoint %d", ErrNotFound, job, id)
}

// Latest returns the newest checkpoint of job that verifies; see Store.Latest.
func (tx *Tx) Latest(job string) (*State, Info, error) {
	if !tx.known(job) {
		return nil, Info{}, tx.notFound(job)
	}
	entries := tx.index(job)
	var bad []error
	for i := len(entries) - 1; i >= 0; i-- {
		st, err := tx.read(job, entries[i])
		if err == nil {
			return st, entries[i].in, nil
		}
		tx.s.log.Warn("skipping a checkpoint that does not verify", "store", tx.s.path, "job", job, "id", entries[i].id, "err", err)
		bad = append(bad, err)
	}
	if len(bad) == 0 {
		return nil, Info{}, fmt.Errorf("%w: job %q has no checkpoints", ErrNoCheckpoint, job)
	}
	return nil, Info{}, fmt.Errorf("%w: job %q: all %d checkpoints fail verification: %w", ErrNoCheckpoint, job, len(bad), errors.Join(bad...))
}

// Verify reads and checks every checkpoint of job (job "" for all), oldest first.
func (tx *Tx) Verify(job string) ([]VerifyResult, error) {
	jobs, err := tx.jobsFor(job)
	if err != nil {
		return nil, err
	}
	var out []VerifyResult
	for _, j := range jobs {
		for _, e := range tx.index(j) {
			_, err := tx.read(j, e)
			in := e.in
			if e.err != nil {
				in = Info{ID: e.id, Job: j}
			}
			out = append(out, VerifyResult{Info: in, Err: err})
		}
	}
	return out, nil
}

// Prune applies a retention policy now; see Store.Prune.
func (tx *Tx) Prune(job string, keepLast, keepBest int) ([]uint64, error) {
	if err := tx.writable(); err != nil {
		return nil, err
	}
	if keepLast < 1 || keepBest < 0 {
		return nil, fmt.Errorf("%w: prune keeps the last %d and the best %d; want last >= 1 and best >= 0", ErrOptions, keepLast, keepBest)
	}
	if !tx.known(job) {
		return nil, tx.notFound(job)
	}
	entries := tx.index(job)
	var protect uint64
	for i := len(entries) - 1; i >= 0; i-- {
		if _, err := tx.read(job, entries[i]); err == nil {
			protect = entries[i].id
			break
		}
	}
	return tx.retain(job, keepLast, keepBest, protect)
}

// retain deletes job's checkpoints other than the keepLast newest, the keepBest
// best by test accuracy, and protect.
func (tx *Tx) retain(job string, keepLast, keepBest int, protect uint64) ([]uint64, error) {
	entries := tx.index(job)
	keep := map[uint64]bool{protect: true}
	for i := len(entries) - 1; i >= 0 && i >= len(entries)-keepLast; i-- {
		keep[entries[i].id] = true
	}
	var best []indexEntry
	for _, e := range entries {
		if e.err == nil && e.in.Metrics.HasTest && !math.IsNaN(e.in.Metrics.TestAcc) {
			best = append(best, e)
		}
	}
	slices.SortStableFunc(best, func(a, b indexEntry) int {
		if a.in.Metrics.TestAcc != b.in.Metrics.TestAcc {
			if a.in.Metrics.TestAcc > b.in.Metrics.TestAcc {
				return -1
			}
			return 1
		}
		if a.id > b.id {
			return -1
		}
		return 1
	})
	for i := 0; i < len(best) && i < keepBest; i++ {
		keep[best[i].id] = true
	}
	idx := tx.bucket(bucketCkpt, []byte(job), bucketIndex)
	data := tx.bucket(bucketCkpt, []byte(job), bucketData)
	var deleted []uint64
	for _, e := range entries {
		if keep[e.id] || e.err != nil && e.id == 0 {
			continue
		}
		if err := idx.Delete(u64key(e.id)); err != nil {
			return nil, err
		}
		if data != nil {
			prefix := u64key(e.id)
			var keys [][]byte
			c := data.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := data.Delete(k); err != nil {
					return nil, err
				}
			}
		}
		deleted = append(deleted, e.id)
	}
	return deleted, nil
}

// AppendMetrics adds points to their jobs' metrics histories.
func (tx *Tx) AppendMetrics(points ...MetricPoint) error {
	if err := tx.writable(); err != nil {
		return err
	}
	top, err := tx.tx.CreateBucketIfNotExists(bucketMetrics)
	if err != nil {
		return err
	}
	for i := range points {
		p := &points[i]
		if err := ValidateJobID(p.Job); err != nil {
			return fmt.Errorf("metric point %d: %w", i, err)
		}
		if p.Epoch < 0 || p.Step < 0 || p.Workers < 0 {
			return fmt.Errorf("%w: metric point %d of job %q: negative epoch %d, step %d or workers %d",
				ErrInvalidState, i, p.Job, p.Epoch, p.Step, p.Workers)
		}
		b, err := top.CreateBucketIfNotExists([]byte(p.Job))
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(u64key(seq), encodePoint(p)); err != nil {
			return err
		}
	}
	return nil
}

// Metrics returns job's metrics history in the order it was appended.
func (tx *Tx) Metrics(job string) ([]MetricPoint, error) {
	if !tx.known(job) {
		return nil, tx.notFound(job)
	}
	b := tx.bucket(bucketMetrics, []byte(job))
	if b == nil {
		return nil, nil
	}
	var out []MetricPoint
	err := b.ForEach(func(k, v []byte) error {
		p, err := decodePoint(v, job)
		if err != nil {
			return fmt.Errorf("job %q metric %x: %w", job, k, err)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// SetTestAccuracy records the test accuracy of checkpoint id of job, measured
// after it was saved (a trainer evaluates the state it has just checkpointed).
// The checkpoint is read and verified, its metrics summary updated, and it is
// rewritten under the same id with a new checksum, in one transaction: a crash
// leaves either the old or the new record. The retention policy's "best by test
// accuracy" then counts it.
func (s *Store) SetTestAccuracy(job string, id uint64, acc float64) error {
	return s.Update(func(tx *Tx) error { return tx.SetTestAccuracy(job, id, acc) })
}

// SetTestAccuracy records a checkpoint's test accuracy in this transaction; see
// Store.SetTestAccuracy.
func (tx *Tx) SetTestAccuracy(job string, id uint64, acc float64) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if math.IsNaN(acc) || acc < 0 || acc > 1 {
		return fmt.Errorf("checkpoint: job %q checkpoint %d: test accuracy %v is not in [0, 1]", job, id, acc)
	}
	st, old, err := tx.Load(job, id)
	if err != nil {
		return err
	}
	st.Metrics.TestAcc, st.Metrics.HasTest = acc, true
	enc, err := EncodeState(st)
	if err != nil {
		return err
	}
	in := newInfo(st, enc)
	in.ID, in.Saved = old.ID, old.Saved
	data := tx.bucket(bucketCkpt, []byte(job), bucketData)
	idx := tx.bucket(bucketCkpt, []byte(job), bucketIndex)
	for n := range max(old.Chunks, in.Chunks) {
		if n >= in.Chunks {
			if err := data.Delete(chunkKey(id, n)); err != nil {
				return fmt.Errorf("checkpoint: job %q checkpoint %d: chunk %d: %w", job, id, n, err)
			}
			continue
		}
		if err := data.Put(chunkKey(id, n), enc[n*chunkSize:min(len(enc), (n+1)*chunkSize)]); err != nil {
			return fmt.Errorf("checkpoint: job %q checkpoint %d: chunk %d: %w", job, id, n, err)
		}
	}
	if err := idx.Put(u64key(id), encodeInfo(in)); err != nil {
		return fmt.Errorf("checkpoint: job %q checkpoint %d: index: %w", job, id, err)
	}
	return nil
}
