package checkpoint

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/asfnet/asf/internal/atomicfile"
	bolt "go.etcd.io/bbolt"
)

// ckptRec is a checkpoint as found in a file: its index record and chunks.
type ckptRec struct {
	info    Info
	infoErr error
	chunks  map[uint32][]byte
}

// verify reassembles the chunks and checks them against the index record.
func (c *ckptRec) verify(job string, id uint64) error {
	if c.infoErr != nil {
		return c.infoErr
	}
	if c.info.Format != StateFormat {
		return fmt.Errorf("%w: job %q checkpoint %d: state format version %d found, this build reads version %d",
			ErrVersion, job, id, c.info.Format, StateFormat)
	}
	var enc []byte
	for n := range c.info.Chunks {
		p, ok := c.chunks[uint32(n)]
		if !ok {
			return fmt.Errorf("%w: job %q checkpoint %d: chunk %d of %d missing", ErrCorrupt, job, id, n, c.info.Chunks)
		}
		enc = append(enc, p...)
	}
	if len(c.chunks) != c.info.Chunks || int64(len(enc)) != c.info.Size {
		return fmt.Errorf("%w: job %q checkpoint %d: index records %d chunks of %d bytes, found %d chunks of %d bytes",
			ErrCorrupt, job, id, c.info.Chunks, c.info.Size, len(c.chunks), len(enc))
	}
	if sum := sha256.Sum256(enc); sum != c.info.Checksum {
		return fmt.Errorf("%w: job %q checkpoint %d: checksum mismatch: index records sha256 %x, data hashes to %x",
			ErrCorrupt, job, id, c.info.Checksum[:8], sum[:8])
	}
	st, err := DecodeState(enc)
	if err != nil {
		return fmt.Errorf("job %q checkpoint %d: %w", job, id, err)
	}
	if st.Job != job {
		return fmt.Errorf("%w: job %q checkpoint %d holds the state of job %q", ErrCorrupt, job, id, st.Job)
	}
	return nil
}

// contents is what one walk of a file's tree found, record by record.
type contents struct {
	names    []string // top-level bucket names
	created  []byte
	format   []byte
	jobs     map[string][]byte // verified configurations
	ckpts    map[string]map[uint64]*ckptRec
	idxSeq   map[string]uint64
	points   map[string]map[uint64]MetricPoint
	metSeq   map[string]uint64
	badPts   int
	roots    map[string]uint64 // bucket path -> root page
	problems []Problem
}

func newContents() *contents {
	return &contents{jobs: map[string][]byte{}, ckpts: map[string]map[uint64]*ckptRec{}, idxSeq: map[string]uint64{},
		points: map[string]map[uint64]MetricPoint{}, metSeq: map[string]uint64{}}
}

// ours reports whether the tree is a checkpoint store's (any of its top-level
// buckets is there) or empty.
func (c *contents) ours() bool {
	if len(c.names) == 0 {
		return true
	}
	for _, n := range c.names {
		for _, b := range [][]byte{bucketMeta, bucketJobs, bucketCkpt, bucketMetrics} {
			if n == string(b) {
				return true
			}
		}
	}
	return false
}

func (c *contents) problem(path []string, key []byte, format string, args ...any) {
	c.problems = append(c.problems, Problem{Bucket: joinPath(path), Msg: fmt.Sprintf("key %q: ", key) + fmt.Sprintf(format, args...)})
}

func joinPath(path []string) string {
	out := ""
	for i, p := range path {
		if i > 0 {
			out += "/"
		}
		out += p
	}
	return out
}

func (c *contents) ckpt(job string, id uint64) *ckptRec {
	if c.ckpts[job] == nil {
		c.ckpts[job] = map[uint64]*ckptRec{}
	}
	r := c.ckpts[job][id]
	if r == nil {
		r = &ckptRec{chunks: map[uint32][]byte{}, infoErr: fmt.Errorf("%w: job %q checkpoint %d: no index record", ErrCorrupt, job, id)}
		c.ckpts[job][id] = r
	}
	return r
}

// value files one plain value of the tree by where it is.
func (c *contents) value(path []string, k, v []byte) {
	switch {
	case len(path) == 1 && path[0] == string(bucketMeta) && string(k) == string(keyFormat):
		c.format = v
	case len(path) == 1 && path[0] == string(bucketMeta) && string(k) == string(keyCreated):
		c.created = v
	case len(path) == 1 && path[0] == string(bucketJobs):
		if err := ValidateJobID(string(k)); err != nil {
			c.problem(path, k, "%v", err)
			return
		}
		cfg, err := decodeJob(v, string(k))
		if err != nil {
			c.problem(path, k, "%v", err)
			return
		}
		c.jobs[string(k)] = cfg
	case len(path) == 3 && path[0] == string(bucketCkpt) && path[2] == string(bucketIndex) && len(k) == 8:
		id := binary.BigEndian.Uint64(k)
		r := c.ckpt(path[1], id)
		r.info, r.infoErr = decodeInfo(v, path[1], id)
		if r.infoErr != nil {
			c.problem(path, k, "%v", r.infoErr)
		}
	case len(path) == 3 && path[0] == string(bucketCkpt) && path[2] == string(bucketData) && len(k) == 12:
		c.ckpt(path[1], binary.BigEndian.Uint64(k)).chunks[binary.BigEndian.Uint32(k[8:])] = v
	case len(path) == 2 && path[0] == string(bucketMetrics) && len(k) == 8:
		p, err := decodePoint(v, path[1])
		if err != nil {
			c.badPts++
			c.problem(path, k, "%v", err)
			return
		}
		if c.points[path[1]] == nil {
			c.points[path[1]] = map[uint64]MetricPoint{}
		}
		c.points[path[1]][binary.BigEndian.Uint64(k)] = p
	default:
		c.problem(path, k, "a value where the store's layout has none")
	}
}

// bucket checks one bucket's place in the layout and keeps its sequence.
func (c *contents) bucket(path []string, root, seq uint64) {
	if c.roots == nil {
		c.roots = map[string]uint64{}
	}
	c.roots[joinPath(path)] = root
	switch {
	case len(path) == 1:
		c.names = append(c.names, path[0])
		switch path[0] {
		case string(bucketMeta), string(bucketJobs), string(bucketCkpt), string(bucketMetrics):
			return
		}
	case len(path) == 2 && (path[0] == string(bucketCkpt) || path[0] == string(bucketMetrics)):
		if err := ValidateJobID(path[1]); err == nil {
			if path[0] == string(bucketMetrics) {
				c.metSeq[path[1]] = seq
			}
			return
		}
	case len(path) == 3 && path[0] == string(bucketCkpt) && path[2] == string(bucketIndex):
		c.idxSeq[path[1]] = seq
		return
	case len(path) == 3 && path[0] == string(bucketCkpt) && path[2] == string(bucketData):
		return
	}
	c.problem(path[:len(path)-1], []byte(path[len(path)-1]), "a bucket where the store's layout has none")
}

// check runs the checks that need the whole tree: every checkpoint verifies,
// the sequences are ahead of the ids they gave.
func (c *contents) check() []VerifyResult {
	var out []VerifyResult
	for _, job := range slices.Sorted(maps.Keys(c.ckpts)) {
		var maxID uint64
		for _, id := range slices.Sorted(maps.Keys(c.ckpts[job])) {
			r := c.ckpts[job][id]
			maxID = max(maxID, id)
			in := r.info
			if r.infoErr != nil {
				in = Info{ID: id, Job: job}
			}
			err := r.verify(job, id)
			out = append(out, VerifyResult{Info: in, Err: err})
			if err != nil && r.infoErr == nil {
				c.problems = append(c.problems, Problem{Bucket: string(bucketCkpt) + "/" + job, Msg: err.Error()})
			}
		}
		if s, ok := c.idxSeq[job]; ok && s < maxID {
			c.problems = append(c.problems, Problem{Bucket: string(bucketCkpt) + "/" + job + "/index",
				Msg: fmt.Sprintf("sequence %d is behind checkpoint id %d (the next save would reuse an id)", s, maxID)})
		}
	}
	for job, pts := range c.points {
		if s, ok := c.metSeq[job]; ok && len(pts) > 0 && s < slices.Max(slices.Collect(maps.Keys(pts))) {
			c.problems = append(c.problems, Problem{Bucket: string(bucketMetrics) + "/" + job,
				Msg: fmt.Sprintf("sequence %d is behind the newest point", s)})
		}
	}
	if len(c.names) > 0 && c.ours() {
		if _, err := decodeFormat(c.format); err != nil {
			c.problems = append(c.problems, Problem{Bucket: string(bucketMeta), Msg: err.Error()})
		}
	}
	return out
}

// FileReport is what Inspect found in a store file, read page by page without
// trusting it.
type FileReport struct {
	Path     string
	Size     int64
	PageSize int
	Pages    uint64 // the high water mark of the meta in use
	Txid     uint64
	MetaPage int  // the meta page in use (0 or 1), -1 if neither verifies
	Bolt     bool // the file is a bbolt file (a meta page has bbolt's magic)
	Store    bool // the tree is a checkpoint store's (or empty)
	// Problems lists every inconsistency of the pages and records in use.
	Problems    []Problem
	Jobs        []string       // jobs with a record that verifies
	Checkpoints []VerifyResult // every checkpoint of every job, by job then id
	Metrics     int            // metric points that verify
}

// Damaged reports whether the file has any problem: a page or record that does
// not verify, or a checkpoint that does not.
func (r *FileReport) Damaged() bool { return len(r.Problems) > 0 }

// Err is nil for a sound file, else ErrDamaged naming the file and the first
// problems.
func (r *FileReport) Err() error {
	if !r.Damaged() {
		return nil
	}
	first := make([]string, 0, 3)
	for _, p := range r.Problems[:min(3, len(r.Problems))] {
		first = append(first, p.String())
	}
	more := ""
	if len(r.Problems) > 3 {
		more = fmt.Sprintf("; and %d more", len(r.Problems)-3)
	}
	return fmt.Errorf("%w: %s: %d problem(s): %s%s", ErrDamaged, r.Path, len(r.Problems), joinSemi(first), more)
}

func joinSemi(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// image is a file read into memory and walked.
type image struct {
	rep            *FileReport
	use, other     *contents // the trees of the meta in use and of the other one (nil if it cannot be walked)
	otherValid     bool      // the other meta passed its own checks
	regions        []region
	useMeta, older boltMeta
}

// inspectBytes walks a store file held in data.
func inspectBytes(path string, data []byte, mapping bool) *image {
	rep := &FileReport{Path: path, Size: int64(len(data)), MetaPage: -1}
	img := &image{rep: rep}
	use, other, ok := chooseMeta(data)
	rep.Bolt = use.magic == boltMagic || other.magic == boltMagic
	for _, m := range []boltMeta{use, other} {
		if m.err != nil && rep.Bolt {
			rep.Problems = append(rep.Problems, Problem{Msg: m.err.Error()})
		}
	}
	if !ok {
		return img
	}
	img.useMeta, img.older = use, other
	rep.PageSize, rep.Pages, rep.Txid, rep.MetaPage = int(use.pageSize), use.hwm, use.txid, use.page
	walk := func(m boltMeta, mapping bool) (*contents, *walker) {
		c := newContents()
		w := &walker{value: c.value, bucket: c.bucket, mapping: mapping}
		walkFile(data, m, w)
		return c, w
	}
	c, w := walk(use, mapping)
	img.use, img.regions = c, w.regions
	rep.Checkpoints = c.check()
	rep.Store = c.ours()
	rep.Problems = append(rep.Problems, w.problems...)
	rep.Problems = append(rep.Problems, c.problems...)
	rep.Jobs = slices.Sorted(maps.Keys(c.jobs))
	for _, p := range c.points {
		rep.Metrics += len(p)
	}
	// The other meta's tree, for salvage: even when that meta fails its own
	// checks (the walk trusts nothing, and every record it yields is verified
	// by its checksum), as long as it describes pages of this file.
	if other.magic == boltMagic && other.pageSize == use.pageSize && other.hwm >= 2 && other.hwm <= uint64(len(data))/uint64(use.pageSize)+1 {
		img.other, _ = walk(other, false)
		img.other.check()
		img.otherValid = other.err == nil
	}
	return img
}

// Inspect reads the store file at path page by page, without bbolt and without
// trusting any byte of it, and reports every problem: meta pages, freelist,
// branch and leaf pages (ids, flags, counts, offsets, key order, pages reached
// twice or never), the store's layout, every record's crc32c and every
// checkpoint's sha256. It takes a shared lock on the file (waiting up to
// opts.Timeout) so that no writer changes it meanwhile. It never panics; an
// error means the file could not be read at all.
func Inspect(path string, opts *Options) (*FileReport, error) {
	o := DefaultOptions()
	if opts != nil {
		o = *opts
	}
	var img *image
	err := withFileLock(path, false, o.Timeout, func(data []byte) error {
		img = inspectBytes(path, data, false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return img.rep, nil
}

// withFileLock opens path, takes its lock (exclusive or shared, waiting up to
// timeout), reads it whole and calls fn with its bytes.
func withFileLock(path string, exclusive bool, timeout time.Duration, fn func(data []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: open store %s: %w", path, err)
	}
	defer f.Close()
	if err := lockFile(f, exclusive, timeout); err != nil {
		if errors.Is(err, ErrLocked) {
			holder := lockHolder(path)
			if holder != "" {
				holder = " (" + holder + ")"
			}
			return fmt.Errorf("%w: %s: another process holds the file%s; gave up after %v (stop it, or read a backup copy)",
				ErrLocked, path, holder, timeout)
		}
		return fmt.Errorf("checkpoint: lock %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("checkpoint: read store %s: %w", path, err)
	}
	return fn(data)
}

// SalvageReport says what a salvage kept and what it could not.
type SalvageReport struct {
	// Damaged is where the damaged file is now (Repair moves it aside; Salvage
	// leaves it where it was).
	Damaged string
	// Store is the salvaged store written.
	Store string
	// Problems are those Inspect found in the damaged file.
	Problems []Problem
	// Jobs, Checkpoints and Metrics count the records kept; the Lost counts
	// those of the tree in use that did not verify.
	Jobs, Checkpoints, Metrics             int
	LostJobs, LostCheckpoints, LostMetrics int
	// Newest is, per job, the newest checkpoint kept.
	Newest map[string]Info
	// FromOlderMeta counts the records kept only thanks to the tree of the
	// older meta page.
	FromOlderMeta int
	// UsedMeta is the meta page bbolt would have used (-1: neither verified,
	// so no tree could be walked and nothing was kept).
	UsedMeta int
}

// salvageInto writes every record of img that verifies into a new store at
// dst (which must not exist) and returns what it kept.
func salvageInto(img *image, dst string, o Options) (*SalvageReport, error) {
	rep := &SalvageReport{Store: dst, Problems: img.rep.Problems, Newest: map[string]Info{}, UsedMeta: img.rep.MetaPage}
	merged := newContents()
	older := 0
	for i, c := range []*contents{img.use, img.other} {
		if c == nil {
			continue
		}
		if merged.created == nil {
			merged.created = c.created
		}
		for j, cfg := range c.jobs {
			if i == 1 && !img.otherValid {
				break // a job record is not versioned: only a sound tree's is believed
			}
			if _, ok := merged.jobs[j]; !ok {
				merged.jobs[j] = cfg
				older += i
			}
		}
		for j, byID := range c.ckpts {
			for id, r := range byID {
				if prev := merged.ckpts[j][id]; prev != nil && prev.verify(j, id) == nil {
					continue
				}
				if r.verify(j, id) != nil {
					continue
				}
				if merged.ckpts[j] == nil {
					merged.ckpts[j] = map[uint64]*ckptRec{}
				}
				merged.ckpts[j][id] = r
				older += i
			}
		}
		for j, pts := range c.points {
			if merged.points[j] == nil {
				merged.points[j] = map[uint64]MetricPoint{}
			}
			for seq, p := range pts {
				if _, ok := merged.points[j][seq]; !ok {
					merged.points[j][seq] = p
					older += i
				}
			}
		}
		for j, s := range c.idxSeq {
			merged.idxSeq[j] = max(merged.idxSeq[j], s)
		}
		for j, s := range c.metSeq {
			merged.metSeq[j] = max(merged.metSeq[j], s)
		}
	}
	rep.FromOlderMeta = older
	if img.use != nil {
		for j, byID := range img.use.ckpts {
			for id := range byID {
				if merged.ckpts[j][id] == nil {
					rep.LostCheckpoints++
				}
			}
		}
		rep.LostMetrics = img.use.badPts
		for _, p := range img.use.problems {
			if p.Bucket == string(bucketJobs) {
				rep.LostJobs++
			}
		}
	}
	o.Recover, o.ReadOnly = false, false
	s, err := Open(dst, &o)
	if err != nil {
		return nil, err
	}
	err = s.guard("salvage", func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			if len(merged.created) > 0 {
				var t time.Time
				if t.UnmarshalBinary(merged.created) == nil {
					if err := tx.Bucket(bucketMeta).Put(keyCreated, merged.created); err != nil {
						return err
					}
				}
			}
			jobs := tx.Bucket(bucketJobs)
			for _, j := range slices.Sorted(maps.Keys(merged.jobs)) {
				if err := jobs.Put([]byte(j), encodeJob(merged.jobs[j])); err != nil {
					return err
				}
				rep.Jobs++
			}
			for _, j := range slices.Sorted(maps.Keys(merged.ckpts)) {
				jb, err := tx.Bucket(bucketCkpt).CreateBucketIfNotExists([]byte(j))
				if err != nil {
					return err
				}
				idx, err := jb.CreateBucketIfNotExists(bucketIndex)
				if err != nil {
					return err
				}
				data, err := jb.CreateBucketIfNotExists(bucketData)
				if err != nil {
					return err
				}
				seq := merged.idxSeq[j]
				for _, id := range slices.Sorted(maps.Keys(merged.ckpts[j])) {
					r := merged.ckpts[j][id]
					for n := range r.info.Chunks {
						if err := data.Put(chunkKey(id, n), r.chunks[uint32(n)]); err != nil {
							return err
						}
					}
					in := r.info
					if err := idx.Put(u64key(id), encodeInfo(&in)); err != nil {
						return err
					}
					seq = max(seq, id)
					rep.Checkpoints++
					if cmp.Compare(in.ID, rep.Newest[j].ID) > 0 {
						rep.Newest[j] = in
					}
				}
				if err := idx.SetSequence(seq); err != nil {
					return err
				}
			}
			for _, j := range slices.Sorted(maps.Keys(merged.points)) {
				if len(merged.points[j]) == 0 {
					continue
				}
				b, err := tx.Bucket(bucketMetrics).CreateBucketIfNotExists([]byte(j))
				if err != nil {
					return err
				}
				seq := merged.metSeq[j]
				for _, k := range slices.Sorted(maps.Keys(merged.points[j])) {
					p := merged.points[j][k]
					if err := b.Put(u64key(k), encodePoint(&p)); err != nil {
						return err
					}
					seq = max(seq, k)
					rep.Metrics++
				}
				if err := b.SetSequence(seq); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dst)
		return nil, fmt.Errorf("checkpoint: salvage into %s: %w", dst, err)
	}
	return rep, nil
}

// Salvage reads the (damaged) store at src without trusting it and writes every
// job record, checkpoint and metric point whose checksum holds into a new store
// at dst, which must not exist (it appears whole, through a temporary file,
// or not at all); src is left as it is (it is only read, under a
// shared lock). Records are taken from the tree of the meta page bbolt would
// use, and, where that tree is damaged, from the tree of the other meta page
// (the previous transaction), so that a page broken by the last write loses
// nothing older.
func Salvage(src, dst string, opts *Options) (*SalvageReport, error) {
	o := DefaultOptions()
	if opts != nil {
		o = *opts
	}
	if _, err := os.Stat(dst); err == nil {
		return nil, fmt.Errorf("checkpoint: salvage into %s: the file exists (salvage writes a new store)", dst)
	}
	var rep *SalvageReport
	err := withFileLock(src, false, o.Timeout, func(data []byte) error {
		img := inspectBytes(src, data, false)
		if img.rep.MetaPage >= 0 && !img.rep.Store {
			return fmt.Errorf("%w: %s is a bbolt database of another program", ErrNotStore, src)
		}
		if !img.rep.Bolt {
			return fmt.Errorf("%w: %s is not a bbolt file (%s)", ErrNotStore, src, sniff(src))
		}
		// Through atomicfile, so that an interrupted salvage leaves no
		// half-written store at dst.
		var salvageErr error
		err := atomicfile.Replace(dst, atomicfile.Options{Perm: 0o600}, func(f *os.File) error {
			rep, salvageErr = salvageInto(img, f.Name(), o)
			return salvageErr
		})
		switch {
		case err != nil && err == salvageErr:
			rep = nil
			return err
		case err != nil:
			rep = nil
			return fmt.Errorf("checkpoint: salvage into %s: %w", dst, err)
		}
		rep.Damaged, rep.Store = src, dst
		return nil
	})
	return rep, err
}

// Repair checks the store at path as Inspect does and, if it is damaged, sets
// the file aside as <path>.damaged-<UTC time> (it is never deleted) and puts
// in its place a new store holding every record of it that verifies (see
// Salvage). It holds the file's write lock throughout (waiting up to
// opts.Timeout). A sound file is left as it is and the report is nil; so is a
// file that is not a store (Open then says what it is). A missing or empty
// file is not an error.
func Repair(path string, opts *Options) (*SalvageReport, error) {
	o := DefaultOptions()
	if opts != nil {
		o = *opts
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && (fi.Size() == 0 || fi.IsDir()) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: repair %s: %w", path, err)
	}
	var rep *SalvageReport
	err = withFileLock(path, true, o.Timeout, func(data []byte) error {
		img := inspectBytes(path, data, false)
		if !img.rep.Damaged() || !img.rep.Bolt || img.rep.MetaPage >= 0 && !img.rep.Store {
			return nil
		}
		// The salvaged store replaces the damaged file in one rename, the
		// damaged file kept aside by a hard link made just before: path is
		// never missing, and a failure leaves it as it was.
		aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		var salvageErr error
		err := atomicfile.Replace(path, atomicfile.Options{Perm: 0o600, Aside: aside}, func(f *os.File) error {
			rep, salvageErr = salvageInto(img, f.Name(), o)
			return salvageErr
		})
		switch {
		case err != nil && err == salvageErr:
			rep = nil
			return err // names the store already
		case err != nil:
			rep = nil
			return fmt.Errorf("checkpoint: repair %s: %w", path, err)
		}
		rep.Damaged, rep.Store = aside, path
		return nil
	})
	return rep, err
}
