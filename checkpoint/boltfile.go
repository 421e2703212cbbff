package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
)

// This file reads a bbolt file without bbolt: the file is in memory (read, not
// mapped, so no byte of it can fault), every offset, length and page id is
// checked before use, and nothing panics. It mirrors the on-disk format of
// go.etcd.io/bbolt v1 (internal/common: page.go, meta.go, bucket.go):
//
//	page    id u64 | flags u16 | count u16 | overflow u32 | elements ...
//	        a page spans 1+overflow pages of the meta's page size
//	meta    (pages 0 and 1, after the header) magic u32 0xED0CDAED | version
//	        u32 2 | pageSize u32 | flags u32 | root bucket (root pgid u64,
//	        sequence u64) | freelist pgid u64 | high water mark pgid u64 | txid
//	        u64 | checksum u64 (FNV-1a 64 of the 56 bytes before it)
//	branch  count elements (pos u32, ksize u32, pgid u64); a key starts pos
//	        bytes after its element
//	leaf    count elements (flags u32, pos u32, ksize u32, vsize u32); key then
//	        value start pos bytes after the element; flags 1 = a bucket, whose
//	        value is root pgid u64 | sequence u64, then (root 0) an inline leaf
//	freelist count free page ids u64 (count 0xFFFF: the first u64 is the count)
//
// bbolt uses the meta with the higher txid whose checksum holds, else the other.

const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	elementSize      = 16 // branch and leaf elements are both 16 bytes
	bucketHeaderSize = 16
	metaSize         = 64
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagMeta         = 0x04
	flagFreelist     = 0x10
	noFreelist       = ^uint64(0)
	maxTreeDepth     = 64 // far deeper than any real tree: a guard against loops
)

// Kinds of bytes in a store file, as Inspect's page map and docs/reliability.md
// name them.
const (
	KindMeta     = "meta"            // the two meta pages
	KindFreelist = "freelist"        // the freelist page(s)
	KindBranch   = "branch"          // branch pages
	KindLeaf     = "leaf"            // leaf page headers, element tables, keys, bucket headers
	KindRecord   = "record"          // values of job, index and format records
	KindData     = "checkpoint data" // checkpoint chunks in a leaf's first page
	KindOverflow = "overflow"        // the pages after the first of a multi-page leaf
	KindMetrics  = "metrics"         // metric point values
	KindFree     = "free"            // pages on the freelist
	KindSlack    = "slack"           // unused bytes at the end of a page
)

// boltMeta is one decoded meta page.
type boltMeta struct {
	page                  int
	magic, version, flags uint32
	pageSize              uint32
	root, seq             uint64
	freelist, hwm, txid   uint64
	err                   error // nil if the meta validates as bbolt's Validate does
}

func readMeta(data []byte, page, pageSize int) boltMeta {
	m := boltMeta{page: page}
	off := page * pageSize
	if off+pageHeaderSize+metaSize > len(data) {
		m.err = fmt.Errorf("meta page %d: file too short (%d bytes)", page, len(data))
		return m
	}
	b := data[off+pageHeaderSize : off+pageHeaderSize+metaSize]
	le := binary.LittleEndian
	m.magic, m.version, m.pageSize, m.flags = le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:]), le.Uint32(b[12:])
	m.root, m.seq = le.Uint64(b[16:]), le.Uint64(b[24:])
	m.freelist, m.hwm, m.txid = le.Uint64(b[32:]), le.Uint64(b[40:]), le.Uint64(b[48:])
	h := fnv.New64a()
	h.Write(b[:56])
	switch {
	case m.magic != boltMagic:
		m.err = fmt.Errorf("meta page %d: magic %08x, want %08x", page, m.magic, uint32(boltMagic))
	case m.version != boltVersion:
		m.err = fmt.Errorf("meta page %d: bbolt format version %d, want %d", page, m.version, boltVersion)
	case le.Uint64(b[56:]) != h.Sum64():
		m.err = fmt.Errorf("meta page %d: checksum %016x, the meta hashes to %016x", page, le.Uint64(b[56:]), h.Sum64())
	case m.pageSize < 512 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0:
		m.err = fmt.Errorf("meta page %d: page size %d is not a power of two in [512, 1 MiB]", page, m.pageSize)
	case m.hwm < 2 || m.root >= m.hwm || m.root < 2 || m.freelist != noFreelist && (m.freelist >= m.hwm || m.freelist < 2):
		m.err = fmt.Errorf("meta page %d: root %d, freelist %d, high water mark %d do not fit together", page, m.root, m.freelist, m.hwm)
	}
	return m
}

// Problem is one inconsistency found in a store file.
type Problem struct {
	Page   uint64 // the page it is in (0 for the file as a whole)
	Bucket string // the bucket path, "a/b", if known
	Msg    string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Page != 0 {
		fmt.Fprintf(&b, "page %d: ", p.Page)
	}
	if p.Bucket != "" {
		fmt.Fprintf(&b, "bucket %s: ", p.Bucket)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// region is a byte range of the file and what it holds.
type region struct {
	off, n int64
	kind   string
	what   string // finer: "bucket header of a/b", "key in a/b", ...
}

// walker reads the tree of one meta.
type walker struct {
	data     []byte
	ps       int
	meta     boltMeta
	seen     []uint8 // per page: 0 unseen, 1 reached from the tree, 2 meta/freelist
	free     []bool
	problems []Problem
	regions  []region // filled when mapping
	mapping  bool
	// value is called for each plain value of the tree; bucket for each bucket
	// (path includes its own name) with its root page (0: inline) and sequence.
	value  func(path []string, key, val []byte)
	bucket func(path []string, root, seq uint64)
}

func (w *walker) problem(page uint64, path []string, format string, args ...any) {
	if len(w.problems) < 1000 { // enough to say what is wrong; a shredded file would list every page
		w.problems = append(w.problems, Problem{Page: page, Bucket: strings.Join(path, "/"), Msg: fmt.Sprintf(format, args...)})
	}
}

// mark records (when mapping) that bytes off..off+n hold kind: label and the
// bucket path say what exactly.
func (w *walker) mark(off, n int64, kind string, label string, path []string) {
	if w.mapping && n > 0 {
		what := label
		if len(path) > 0 {
			what += " " + strings.Join(path, "/")
		}
		w.regions = append(w.regions, region{off, n, kind, what})
	}
}

// page returns the bytes of page id and its span (1+overflow pages), after
// checking that they lie below the high water mark and in the file.
func (w *walker) page(id uint64, path []string) ([]byte, bool) {
	if id < 2 || id >= w.meta.hwm {
		w.problem(id, path, "page id %d is outside the data pages [2, %d)", id, w.meta.hwm)
		return nil, false
	}
	off := id * uint64(w.ps)
	if off+uint64(w.ps) > uint64(len(w.data)) {
		w.problem(id, path, "page lies beyond the end of the file (%d bytes)", len(w.data))
		return nil, false
	}
	hdr := w.data[off:]
	ov := uint64(binary.LittleEndian.Uint32(hdr[12:]))
	if got := binary.LittleEndian.Uint64(hdr); got != id {
		w.problem(id, path, "the page identifies itself as page %d", got)
		return nil, false
	}
	if id+ov >= w.meta.hwm || off+(1+ov)*uint64(w.ps) > uint64(len(w.data)) {
		w.problem(id, path, "overflow of %d pages runs past the high water mark %d or the file", ov, w.meta.hwm)
		return nil, false
	}
	return w.data[off : off+(1+ov)*uint64(w.ps)], true
}

// claim records that the tree reaches pages id..id+n-1.
func (w *walker) claim(id, n uint64, path []string) bool {
	ok := true
	for p := id; p < id+n; p++ {
		if w.seen[p] != 0 {
			w.problem(p, path, "page is referenced more than once")
			ok = false
		}
		if w.free[p] {
			w.problem(p, path, "page is in use and on the freelist")
		}
		w.seen[p] = 1
	}
	return ok
}

// element is one decoded element of a branch or leaf page, with offsets
// relative to the page.
type element struct {
	flags      uint32
	key, value []byte
	child      uint64
	koff, voff int
}

// elements decodes the element table of page p (a branch or leaf, or an inline
// leaf) and checks that every key and value lies inside p and that the keys
// increase.
func elements(p []byte, leaf bool) ([]element, error) {
	count := int(binary.LittleEndian.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		return nil, fmt.Errorf("element count %d does not fit in %d bytes", count, len(p))
	}
	els := make([]element, count)
	next := uint64(pageHeaderSize + count*elementSize)
	le := binary.LittleEndian
	for i := range els {
		base := pageHeaderSize + i*elementSize
		e := p[base:]
		var pos, ksize, vsize uint64
		if leaf {
			els[i].flags = le.Uint32(e)
			pos, ksize, vsize = uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
			if els[i].flags&^1 != 0 {
				return nil, fmt.Errorf("leaf element %d: flags %x (only 0 and 1 exist)", i, els[i].flags)
			}
		} else {
			pos, ksize = uint64(le.Uint32(e)), uint64(le.Uint32(e[4:]))
			els[i].child = le.Uint64(e[8:])
		}
		start := uint64(base) + pos
		if start+ksize+vsize > uint64(len(p)) || pos < uint64(elementSize)*uint64(count-i) {
			return nil, fmt.Errorf("element %d: key (%d bytes) and value (%d bytes) at offset %d lie outside the element area of the %d-byte page", i, ksize, vsize, start, len(p))
		}
		// bbolt writes the keys and values one after the other, right after
		// the element table: any other position is a changed byte.
		if start != next {
			return nil, fmt.Errorf("element %d: key at offset %d, where the previous element's data ends at %d", i, start, next)
		}
		next = start + ksize + vsize
		if ksize == 0 {
			return nil, fmt.Errorf("element %d: empty key", i)
		}
		els[i].koff, els[i].voff = int(start), int(start+ksize)
		els[i].key = p[start : start+ksize]
		els[i].value = p[start+ksize : start+ksize+vsize]
		if i > 0 && bytes.Compare(els[i-1].key, els[i].key) >= 0 {
			return nil, fmt.Errorf("element %d: key %x does not follow key %x", i, els[i].key, els[i-1].key)
		}
	}
	return els, nil
}

// bucketRoot walks the bucket whose header (and inline page) is v.
func (w *walker) bucketRoot(v []byte, voff int64, path []string, depth int) {
	if len(v) < bucketHeaderSize {
		w.problem(0, path, "bucket header is %d bytes, want %d", len(v), bucketHeaderSize)
		return
	}
	root, seq := binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:])
	w.mark(voff, 8, KindLeaf, "root page id of bucket", path)
	w.mark(voff+8, 8, KindLeaf, "sequence of bucket", path)
	if w.bucket != nil {
		w.bucket(path, root, seq)
	}
	if root != 0 {
		w.tree(root, path, nil, nil, depth+1)
		return
	}
	in := v[bucketHeaderSize:]
	if len(in) < pageHeaderSize {
		w.problem(0, path, "inline bucket holds %d bytes, want a page header", len(in))
		return
	}
	if f := binary.LittleEndian.Uint16(in[8:]); f != flagLeaf {
		w.problem(0, path, "inline bucket page has flags %x, want leaf (%x)", f, flagLeaf)
		return
	}
	if id, ov := binary.LittleEndian.Uint64(in), binary.LittleEndian.Uint32(in[12:]); id != 0 || ov != 0 {
		w.problem(0, path, "inline bucket page has id %d and overflow %d, bbolt writes 0 and 0", id, ov)
		return
	}
	els, err := elements(in, true)
	if err != nil {
		w.problem(0, path, "inline bucket: %v", err)
		return
	}
	w.leaf(els, voff+bucketHeaderSize, 0, path, depth)
}

// leaf visits the elements of a leaf whose first byte is at file offset base;
// first is the length of the page's first page (values beyond it are overflow).
func (w *walker) leaf(els []element, base, first int64, path []string, depth int) {
	if len(els) > 0 {
		w.mark(base, pageHeaderSize, KindLeaf, "leaf page header in", path)
		w.mark(base+pageHeaderSize, int64(len(els)*elementSize), KindLeaf, "leaf element table in", path)
	} else {
		w.mark(base, pageHeaderSize, KindLeaf, "leaf page header in", path)
	}
	for _, e := range els {
		w.mark(base+int64(e.koff), int64(len(e.key)), KindLeaf, "key in", path)
		sub := append(path[:len(path):len(path)], string(e.key))
		if e.flags&1 != 0 {
			w.bucketRoot(e.value, base+int64(e.voff), sub, depth)
			continue
		}
		if w.mapping {
			kind := KindRecord
			switch {
			case len(path) == 3 && path[0] == string(bucketCkpt) && path[2] == string(bucketData):
				kind = KindData
			case len(path) == 2 && path[0] == string(bucketMetrics):
				kind = KindMetrics
			}
			voff, vend := int64(e.voff), int64(e.voff+len(e.value))
			if first > 0 && vend > first {
				w.mark(base+max(voff, first), vend-max(voff, first), KindOverflow, "value of", sub)
				vend = max(voff, first)
			}
			w.mark(base+voff, vend-voff, kind, "value of", sub)
		}
		if w.value != nil {
			w.value(path, e.key, e.value)
		}
	}
}

// tree walks the subtree at page id, whose keys must lie in [lo, hi) (nil: no
// bound), and returns its last key.
func (w *walker) tree(id uint64, path []string, lo, hi []byte, depth int) []byte {
	if depth > maxTreeDepth {
		w.problem(id, path, "tree deeper than %d levels", maxTreeDepth)
		return nil
	}
	p, ok := w.page(id, path)
	if !ok {
		return nil
	}
	if !w.claim(id, uint64(len(p)/w.ps), path) {
		return nil
	}
	base := int64(id) * int64(w.ps)
	flags := binary.LittleEndian.Uint16(p[8:])
	if flags != flagBranch && flags != flagLeaf {
		w.problem(id, path, "page flags %x, want branch (%x) or leaf (%x)", flags, flagBranch, flagLeaf)
		return nil
	}
	els, err := elements(p, flags == flagLeaf)
	if err != nil {
		w.problem(id, path, "%s page: %v", map[bool]string{true: "leaf", false: "branch"}[flags == flagLeaf], err)
		return nil
	}
	if len(els) > 0 && (lo != nil && bytes.Compare(els[0].key, lo) < 0 || hi != nil && bytes.Compare(els[len(els)-1].key, hi) >= 0) {
		w.problem(id, path, "keys %x..%x fall outside the range [%x, %x) its parent gives", els[0].key, els[len(els)-1].key, lo, hi)
		return nil
	}
	if flags == flagLeaf {
		first := int64(w.ps)
		if len(p) == w.ps {
			first = 0
		}
		w.leaf(els, base, first, path, depth)
		if len(els) == 0 {
			return nil
		}
		return els[len(els)-1].key
	}
	if len(els) == 0 {
		w.problem(id, path, "branch page without elements")
		return nil
	}
	w.mark(base, int64(pageHeaderSize+len(els)*elementSize), KindBranch, "branch page header and elements in", path)
	var last []byte
	for i, e := range els {
		w.mark(base+int64(e.koff), int64(len(e.key)), KindBranch, "branch key in", path)
		next := hi
		if i+1 < len(els) {
			next = els[i+1].key
		}
		if l := w.tree(e.child, path, e.key, next, depth+1); l != nil {
			last = l
		}
	}
	return last
}

// freelist reads the freelist page and marks the free pages.
func (w *walker) freelist() {
	id := w.meta.freelist
	if id == noFreelist {
		return
	}
	p, ok := w.page(id, []string{"(freelist)"})
	if !ok {
		return
	}
	n := uint64(len(p) / w.ps)
	for q := id; q < id+n; q++ {
		w.seen[q] = 2
	}
	if f := binary.LittleEndian.Uint16(p[8:]); f != flagFreelist {
		w.problem(id, nil, "freelist page has flags %x, want %x", f, flagFreelist)
		return
	}
	count, start := uint64(binary.LittleEndian.Uint16(p[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF {
		count, start = binary.LittleEndian.Uint64(p[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > uint64(len(p)) || start+8*count > uint64(len(p)) {
		w.problem(id, nil, "freelist of %d page ids does not fit in its %d bytes", count, len(p))
		return
	}
	w.mark(int64(id)*int64(w.ps), int64(start+8*count), KindFreelist, "freelist", nil)
	var prev uint64
	for i := range count {
		f := binary.LittleEndian.Uint64(p[start+8*i:])
		switch {
		case f < 2 || f >= w.meta.hwm:
			w.problem(id, nil, "free page id %d is outside [2, %d)", f, w.meta.hwm)
			return
		case i > 0 && f <= prev:
			w.problem(id, nil, "free page ids are not increasing (%d after %d)", f, prev)
			return
		case w.seen[f] != 0:
			w.problem(id, nil, "page %d is on the freelist and is the freelist", f)
			return
		}
		prev = f
		w.free[f] = true
	}
}

// walkFile walks the whole tree of meta m: freelist, then every bucket from
// the root, then the pages neither reached nor free.
func walkFile(data []byte, m boltMeta, w *walker) {
	w.data, w.ps, w.meta = data, int(m.pageSize), m
	w.seen, w.free = make([]uint8, m.hwm), make([]bool, m.hwm)
	w.seen[0], w.seen[1] = 2, 2
	for p := range int64(2) {
		w.mark(p*int64(w.ps), pageHeaderSize, KindMeta, "header of meta page (bbolt does not read it)", nil)
		w.mark(p*int64(w.ps)+pageHeaderSize, metaSize, KindMeta, "meta", nil)
	}
	if uint64(len(data)) < m.hwm*uint64(w.ps) {
		w.problem(0, nil, "the file has %d bytes, its %d pages need %d", len(data), m.hwm, m.hwm*uint64(w.ps))
	}
	w.freelist()
	w.tree(m.root, nil, nil, nil, 0)
	var lost []uint64
	for id := uint64(2); id < m.hwm; id++ {
		if w.seen[id] == 0 && !w.free[id] {
			lost = append(lost, id)
		}
		if w.free[id] {
			w.mark(int64(id)*int64(w.ps), int64(w.ps), KindFree, "free page", nil)
		}
	}
	if len(lost) > 0 {
		w.problem(lost[0], nil, "%d page(s) neither reachable nor free: %s", len(lost), pageRanges(lost))
	}
}

// pageRanges writes sorted page ids as "3-7, 9".
func pageRanges(ids []uint64) string {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ids[i], ids[j]))
		} else {
			parts = append(parts, fmt.Sprint(ids[i]))
		}
		if len(parts) == 20 {
			parts = append(parts, "...")
			break
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// chooseMeta picks the meta bbolt would use: the valid one with the higher
// txid, else the other valid one. ok is false if neither validates.
func chooseMeta(data []byte) (use, other boltMeta, ok bool) {
	ps := 4096
	m0 := readMeta(data, 0, ps)
	if m0.err == nil {
		ps = int(m0.pageSize)
	} else if m0.magic == boltMagic && m0.pageSize >= 512 && m0.pageSize <= 1<<20 && m0.pageSize&(m0.pageSize-1) == 0 {
		ps = int(m0.pageSize)
	}
	m1 := readMeta(data, 1, ps)
	if m0.err != nil && m1.err == nil && int(m1.pageSize) != ps {
		m1 = readMeta(data, 1, int(m1.pageSize))
	}
	a, b := m0, m1
	if m1.txid > m0.txid {
		a, b = m1, m0
	}
	switch {
	case a.err == nil:
		return a, b, true
	case b.err == nil:
		return b, a, true
	}
	return a, b, false
}
