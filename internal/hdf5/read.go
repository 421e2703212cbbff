package hdf5

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// Limits that keep a hostile file from exhausting memory or time.
const (
	maxDepth    = 64      // nesting of groups
	maxObjects  = 1 << 16 // object headers read per file
	maxBlocks   = 4096    // object header continuation blocks per object
	maxDims     = 32      // HDF5's own limit
	maxElements = 1 << 28 // elements of one dataset
	maxTreeNode = 1 << 16 // B-tree nodes visited per index
)

// ReadFile reads the HDF5 file at path.
func ReadFile(path string) (*Group, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := Read(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Read decodes the HDF5 file held in b and returns its root group.
func Read(b []byte) (*Group, error) {
	r := &reader{b: b, heaps: map[uint64]map[uint32][]byte{}, onPath: map[uint64]bool{}}
	root, err := r.superblock()
	if err != nil {
		return nil, err
	}
	g, err := r.group(root, "/", 0)
	if err != nil {
		return nil, err
	}
	return g, nil
}

type reader struct {
	b        []byte
	base     uint64
	so, sl   int // sizes of offsets and lengths
	objects  int
	inflated int // bytes produced by filters so far
	heaps    map[uint64]map[uint32][]byte
	onPath   map[uint64]bool
}

func formatErr(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrFormat, path, fmt.Sprintf(format, args...))
}

func unsupported(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrUnsupported, path, fmt.Sprintf(format, args...))
}

// at returns n bytes at file address addr (relative to the base address).
func (r *reader) at(addr, n uint64, path, what string) ([]byte, error) {
	off := r.base + addr
	if addr == r.undef() || off < r.base || off > uint64(len(r.b)) || n > uint64(len(r.b))-off {
		return nil, formatErr(path, "%s at address %d (%d bytes) is outside the file of %d bytes", what, addr, n, len(r.b))
	}
	return r.b[off : off+n], nil
}

// rest returns the bytes from addr to the end of the file.
func (r *reader) rest(addr uint64, path, what string) ([]byte, error) {
	off := r.base + addr
	if addr == r.undef() || off < r.base || off > uint64(len(r.b)) {
		return nil, formatErr(path, "%s at address %d is outside the file of %d bytes", what, addr, len(r.b))
	}
	return r.b[off:], nil
}

func (r *reader) undef() uint64 {
	if r.so == 8 || r.so == 0 {
		return undef
	}
	return 1<<(8*r.so) - 1
}

// cursor decodes little-endian fields from a byte slice; reading past the end
// sets a sticky error.
type cursor struct {
	b    []byte
	off  int
	bad  bool
	r    *reader
	path string
}

func (c *cursor) take(n int) []byte {
	if c.bad || n < 0 || n > len(c.b)-c.off {
		c.bad = true
		return nil
	}
	s := c.b[c.off : c.off+n]
	c.off += n
	return s
}

func (c *cursor) u8() uint8 {
	b := c.take(1)
	if c.bad {
		return 0
	}
	return b[0]
}

func (c *cursor) u16() uint16 { return uint16(c.uint(2)) }
func (c *cursor) u32() uint32 { return uint32(c.uint(4)) }

// uint reads an n-byte little-endian unsigned integer (n <= 8).
func (c *cursor) uint(n int) uint64 {
	b := c.take(n)
	if c.bad || n > 8 {
		c.bad = true
		return 0
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func (c *cursor) addr() uint64 { return c.uint(c.r.so) }
func (c *cursor) length() uint64 {
	return c.uint(c.r.sl)
}
func (c *cursor) left() int { return len(c.b) - c.off }

func (c *cursor) err(what string) error {
	if c.bad {
		return formatErr(c.path, "%s is truncated", what)
	}
	return nil
}

func (r *reader) superblock() (uint64, error) {
	for off := 0; off+8 <= len(r.b); off = max(512, 2*off) {
		if !bytes.Equal(r.b[off:off+8], signature) {
			continue
		}
		return r.superblockAt(off)
	}
	return 0, fmt.Errorf("%w: no HDF5 signature at offset 0, 512, 1024, ... (not an HDF5 file)", ErrFormat)
}

func (r *reader) superblockAt(off int) (uint64, error) {
	c := &cursor{b: r.b[off:], off: 8, r: r, path: "superblock"}
	version := c.u8()
	switch version {
	case 0, 1:
		c.take(3) // free space, root symbol table entry and reserved versions
		if v := c.u8(); v != 0 && !c.bad {
			return 0, unsupported("superblock", "shared header message format version %d", v)
		}
		r.so, r.sl = int(c.u8()), int(c.u8())
		if err := r.checkSizes(); err != nil {
			return 0, err
		}
		c.take(1)
		c.u16() // group leaf node K
		c.u16() // group internal node K
		c.u32() // file consistency flags
		if version == 1 {
			c.take(4)
		}
		r.base = c.addr()
		c.addr() // free space info
		c.addr() // end of file
		c.addr() // driver info
		c.addr() // root link name offset
		root := c.addr()
		if err := c.err("the version 0 superblock"); err != nil {
			return 0, err
		}
		if r.base != uint64(off) && r.base != 0 {
			return 0, formatErr("superblock", "base address %d, but the superblock is at offset %d", r.base, off)
		}
		r.base = uint64(off)
		return root, nil
	case 2, 3:
		r.so, r.sl = int(c.u8()), int(c.u8())
		if err := r.checkSizes(); err != nil {
			return 0, err
		}
		c.u8() // flags
		r.base = c.addr()
		c.addr() // superblock extension
		c.addr() // end of file
		root := c.addr()
		end := c.off
		sum := c.u32()
		if err := c.err("the version 2 superblock"); err != nil {
			return 0, err
		}
		if got := lookup3(r.b[off:off+end], 0); got != sum {
			return 0, formatErr("superblock", "checksum %#08x, computed %#08x (damaged file)", sum, got)
		}
		if r.base != uint64(off) && r.base != 0 {
			return 0, formatErr("superblock", "base address %d, but the superblock is at offset %d", r.base, off)
		}
		r.base = uint64(off)
		return root, nil
	}
	return 0, unsupported("superblock", "version %d (known: 0 to 3)", version)
}

func (r *reader) checkSizes() error {
	ok := func(n int) bool { return n == 2 || n == 4 || n == 8 }
	if !ok(r.so) || !ok(r.sl) {
		return formatErr("superblock", "sizes of offsets %d and lengths %d: want 2, 4 or 8", r.so, r.sl)
	}
	return nil
}

type msg struct {
	typ   uint16
	flags uint8
	data  []byte
}

// header reads the messages of the object header at addr.
func (r *reader) header(addr uint64, path string) ([]msg, error) {
	r.objects++
	if r.objects > maxObjects {
		return nil, formatErr(path, "more than %d objects (a loop of links?)", maxObjects)
	}
	b, err := r.rest(addr, path, "object header")
	if err != nil {
		return nil, err
	}
	if len(b) >= 4 && string(b[:4]) == "OHDR" {
		return r.headerV2(addr, b, path)
	}
	c := &cursor{b: b, r: r, path: path}
	if v := c.u8(); v != 1 {
		if c.bad {
			return nil, c.err("object header")
		}
		return nil, formatErr(path, "object header at %d: version %d, want 1 or an OHDR signature", addr, v)
	}
	c.take(1)
	nmsgs := int(c.u16())
	c.u32() // reference count
	size := uint64(c.u32())
	if err := c.err("object header"); err != nil {
		return nil, err
	}
	first, err := r.at(addr+16, size, path, "object header messages")
	if err != nil {
		return nil, err
	}
	var msgs []msg
	blocks := [][]byte{first}
	seen := map[uint64]bool{addr: true}
	for len(blocks) > 0 {
		if len(seen) > maxBlocks {
			return nil, formatErr(path, "more than %d object header blocks", maxBlocks)
		}
		blk := blocks[0]
		blocks = blocks[1:]
		bc := &cursor{b: blk, r: r, path: path}
		for bc.left() >= 8 {
			typ := bc.u16()
			sz := int(bc.u16())
			fl := bc.u8()
			bc.take(3)
			data := bc.take(sz)
			if bc.bad {
				return nil, formatErr(path, "object header message of type %#x claims %d bytes, the block has %d", typ, sz, bc.left())
			}
			if pad := bc.off % 8; pad != 0 && bc.left() >= 8-pad {
				bc.take(8 - pad)
			}
			if typ == msgContinue {
				nb, err := r.continuation(data, path, seen)
				if err != nil {
					return nil, err
				}
				blocks = append(blocks, nb)
				continue
			}
			msgs = append(msgs, msg{typ: typ, flags: fl, data: data})
		}
	}
	if nmsgs < len(msgs) {
		return nil, formatErr(path, "object header says %d messages, its blocks hold %d", nmsgs, len(msgs))
	}
	return msgs, nil
}

func (r *reader) continuation(data []byte, path string, seen map[uint64]bool) ([]byte, error) {
	c := &cursor{b: data, r: r, path: path}
	off, n := c.addr(), c.length()
	if err := c.err("continuation message"); err != nil {
		return nil, err
	}
	if seen[off] {
		return nil, formatErr(path, "object header continuation at %d is visited twice (a loop)", off)
	}
	seen[off] = true
	return r.at(off, n, path, "object header continuation block")
}

func (r *reader) headerV2(addr uint64, b []byte, path string) ([]msg, error) {
	c := &cursor{b: b, off: 4, r: r, path: path}
	if v := c.u8(); v != 2 && !c.bad {
		return nil, formatErr(path, "OHDR object header at %d: version %d, want 2", addr, v)
	}
	flags := c.u8()
	if flags&0x20 != 0 {
		c.take(16)
	}
	if flags&0x10 != 0 {
		c.take(4)
	}
	size := c.uint(1 << (flags & 3))
	if err := c.err("object header"); err != nil {
		return nil, err
	}
	start := c.off
	if size > uint64(len(b)-start) || uint64(len(b)-start)-size < 4 {
		return nil, formatErr(path, "object header at %d: chunk of %d bytes runs past the end of the file", addr, size)
	}
	end := start + int(size)
	if sum, got := binary.LittleEndian.Uint32(b[end:]), lookup3(b[:end], 0); sum != got {
		return nil, formatErr(path, "object header at %d: checksum %#08x, computed %#08x (damaged file)", addr, sum, got)
	}
	blocks := [][]byte{b[start:end]}
	seen := map[uint64]bool{addr: true}
	var msgs []msg
	hdr := 4
	if flags&0x04 != 0 {
		hdr = 6
	}
	for len(blocks) > 0 {
		if len(seen) > maxBlocks {
			return nil, formatErr(path, "more than %d object header blocks", maxBlocks)
		}
		blk := blocks[0]
		blocks = blocks[1:]
		bc := &cursor{b: blk, r: r, path: path}
		for bc.left() >= hdr {
			typ := uint16(bc.u8())
			sz := int(bc.u16())
			fl := bc.u8()
			if flags&0x04 != 0 {
				bc.u16()
			}
			data := bc.take(sz)
			if bc.bad {
				return nil, formatErr(path, "object header message of type %#x claims %d bytes, the block has %d", typ, sz, bc.left())
			}
			if typ != msgContinue {
				msgs = append(msgs, msg{typ: typ, flags: fl, data: data})
				continue
			}
			nb, err := r.continuation(data, path, seen)
			if err != nil {
				return nil, err
			}
			if len(nb) < 8 || string(nb[:4]) != "OCHK" {
				return nil, formatErr(path, "object header continuation block without its OCHK signature")
			}
			body := len(nb) - 4
			if sum, got := binary.LittleEndian.Uint32(nb[body:]), lookup3(nb[:body], 0); sum != got {
				return nil, formatErr(path, "object header continuation block: checksum %#08x, computed %#08x (damaged file)", sum, got)
			}
			blocks = append(blocks, nb[4:body])
		}
	}
	return msgs, nil
}

func find(msgs []msg, typ uint16) *msg {
	for i := range msgs {
		if msgs[i].typ == typ {
			return &msgs[i]
		}
	}
	return nil
}

type link struct {
	name string
	addr uint64
}

// group reads the group whose object header is at addr.
func (r *reader) group(addr uint64, path string, depth int) (*Group, error) {
	if depth > maxDepth {
		return nil, formatErr(path, "groups nested deeper than %d", maxDepth)
	}
	if r.onPath[addr] {
		return nil, formatErr(path, "the group contains itself (a cycle of links)")
	}
	r.onPath[addr] = true
	defer delete(r.onPath, addr)
	msgs, err := r.header(addr, path)
	if err != nil {
		return nil, err
	}
	links, err := r.links(msgs, path)
	if err != nil {
		return nil, err
	}
	g := NewGroup()
	for _, l := range links {
		p := path + l.name
		if err := checkName(l.name); err != nil {
			return nil, formatErr(p, "%v", err)
		}
		if g.has(l.name) {
			return nil, formatErr(p, "the name appears twice in its group")
		}
		cm, err := r.header(l.addr, p)
		if err != nil {
			return nil, err
		}
		switch {
		case find(cm, msgSymbolTbl) != nil || find(cm, msgLinkInfo) != nil:
			c, err := r.group(l.addr, p+"/", depth+1)
			if err != nil {
				return nil, err
			}
			g.names = append(g.names, l.name)
			g.groups[l.name] = c
		case find(cm, msgLayout) != nil:
			d, err := r.dataset(cm, p)
			if err != nil {
				return nil, err
			}
			g.names = append(g.names, l.name)
			g.datasets[l.name] = d
		default:
			return nil, unsupported(p, "an object that is neither a group nor a dataset (a committed datatype?)")
		}
	}
	return g, nil
}

// links lists the hard links of a group (soft and external links are skipped).
func (r *reader) links(msgs []msg, path string) ([]link, error) {
	if st := find(msgs, msgSymbolTbl); st != nil {
		c := &cursor{b: st.data, r: r, path: path}
		tree, heap := c.addr(), c.addr()
		if err := c.err("symbol table message"); err != nil {
			return nil, err
		}
		names, err := r.localHeap(heap, path)
		if err != nil {
			return nil, err
		}
		var out []link
		visited := 0
		if err := r.groupTree(tree, names, path, 0, &visited, &out); err != nil {
			return nil, err
		}
		return out, nil
	}
	if li := find(msgs, msgLinkInfo); li != nil {
		c := &cursor{b: li.data, r: r, path: path}
		c.u8()
		fl := c.u8()
		if fl&1 != 0 {
			c.take(8)
		}
		heap := c.addr()
		if err := c.err("link info message"); err != nil {
			return nil, err
		}
		if heap != r.undef() {
			return nil, unsupported(path, "dense link storage (a fractal heap of links, written for groups of many members by libver=latest)")
		}
	}
	var out []link
	for _, m := range msgs {
		if m.typ != msgLink {
			continue
		}
		c := &cursor{b: m.data, r: r, path: path}
		if v := c.u8(); v != 1 && !c.bad {
			return nil, unsupported(path, "link message version %d", v)
		}
		fl := c.u8()
		typ := byte(0)
		if fl&0x08 != 0 {
			typ = c.u8()
		}
		if fl&0x04 != 0 {
			c.take(8)
		}
		if fl&0x10 != 0 {
			c.u8()
		}
		n := c.uint(1 << (fl & 3))
		if n > uint64(c.left()) {
			return nil, formatErr(path, "link name of %d bytes in a message of %d", n, len(m.data))
		}
		name := string(c.take(int(n)))
		if typ != 0 {
			continue // soft or external link: not part of the tree
		}
		a := c.addr()
		if err := c.err("link message"); err != nil {
			return nil, err
		}
		out = append(out, link{name: name, addr: a})
	}
	return out, nil
}

// localHeap returns the data segment of the local heap at addr.
func (r *reader) localHeap(addr uint64, path string) ([]byte, error) {
	b, err := r.rest(addr, path, "local heap")
	if err != nil {
		return nil, err
	}
	c := &cursor{b: b, r: r, path: path}
	if sig := c.take(4); c.bad || string(sig) != "HEAP" {
		return nil, formatErr(path, "local heap at %d has no HEAP signature", addr)
	}
	c.take(4)
	size := c.length()
	c.length()
	data := c.addr()
	if err := c.err("local heap"); err != nil {
		return nil, err
	}
	return r.at(data, size, path, "local heap data")
}

func heapName(heap []byte, off uint64, path string) (string, error) {
	if off >= uint64(len(heap)) {
		return "", formatErr(path, "link name offset %d is outside the local heap of %d bytes", off, len(heap))
	}
	s := heap[off:]
	i := bytes.IndexByte(s, 0)
	if i < 0 {
		return "", formatErr(path, "link name at heap offset %d is not NUL-terminated", off)
	}
	return string(s[:i]), nil
}

// groupTree walks a version 1 B-tree of group nodes and appends the links found
// in its symbol nodes.
func (r *reader) groupTree(addr uint64, heap []byte, path string, depth int, visited *int, out *[]link) error {
	*visited++
	if *visited > maxTreeNode || depth > maxDepth {
		return formatErr(path, "group B-tree deeper than %d or larger than %d nodes (a loop?)", maxDepth, maxTreeNode)
	}
	b, err := r.rest(addr, path, "group B-tree node")
	if err != nil {
		return err
	}
	c := &cursor{b: b, r: r, path: path}
	if sig := c.take(4); c.bad || string(sig) != "TREE" {
		return formatErr(path, "group B-tree node at %d has no TREE signature", addr)
	}
	if typ := c.u8(); typ != 0 {
		return formatErr(path, "group B-tree node at %d has type %d, want 0", addr, typ)
	}
	level := c.u8()
	n := int(c.u16())
	c.addr()
	c.addr()
	children := make([]uint64, 0, min(n, 1024))
	for i := 0; i < n && !c.bad; i++ {
		c.length()
		children = append(children, c.addr())
	}
	if err := c.err("group B-tree node"); err != nil {
		return err
	}
	for _, ch := range children {
		if level > 0 {
			if err := r.groupTree(ch, heap, path, depth+1, visited, out); err != nil {
				return err
			}
			continue
		}
		if err := r.symbolNode(ch, heap, path, out); err != nil {
			return err
		}
	}
	return nil
}

func (r *reader) symbolNode(addr uint64, heap []byte, path string, out *[]link) error {
	b, err := r.rest(addr, path, "symbol table node")
	if err != nil {
		return err
	}
	c := &cursor{b: b, r: r, path: path}
	if sig := c.take(4); c.bad || string(sig) != "SNOD" {
		return formatErr(path, "symbol table node at %d has no SNOD signature", addr)
	}
	c.take(2)
	n := int(c.u16())
	for i := 0; i < n && !c.bad; i++ {
		nameOff := c.addr()
		obj := c.addr()
		cache := c.u32()
		c.take(20)
		if c.bad {
			break
		}
		if cache == 2 {
			continue // a soft link (its value is in the scratch pad): not part of the tree
		}
		name, err := heapName(heap, nameOff, path)
		if err != nil {
			return err
		}
		if len(*out) >= maxObjects {
			return formatErr(path, "more than %d members", maxObjects)
		}
		*out = append(*out, link{name: name, addr: obj})
	}
	return c.err("symbol table node")
}

// dtype is a decoded datatype.
type dtype struct {
	class     int
	size      int
	bigEndian bool
	signed    bool
	vlenStr   bool
	strPad    int
}

func (r *reader) datatype(b []byte, path string) (dtype, error) {
	c := &cursor{b: b, r: r, path: path}
	cv := c.u8()
	bf0, bf1, _ := c.u8(), c.u8(), c.u8()
	size := int(c.u32())
	if err := c.err("datatype message"); err != nil {
		return dtype{}, err
	}
	t := dtype{class: int(cv & 0x0f), size: size}
	switch t.class {
	case 0: // fixed-point
		t.bigEndian = bf0&1 != 0
		t.signed = bf0&0x08 != 0
		off, prec := c.u16(), c.u16()
		if err := c.err("integer datatype"); err != nil {
			return t, err
		}
		if size != 1 && size != 2 && size != 4 && size != 8 || off != 0 || int(prec) != 8*size {
			return t, unsupported(path, "integer of %d bytes with bit offset %d and precision %d", size, off, prec)
		}
	case 1: // floating point
		if bf0&0x40 != 0 {
			return t, unsupported(path, "VAX byte order floats")
		}
		t.bigEndian = bf0&1 != 0
		off, prec := c.u16(), c.u16()
		eloc, esize, mloc, msize := c.u8(), c.u8(), c.u8(), c.u8()
		bias := c.u32()
		if err := c.err("float datatype"); err != nil {
			return t, err
		}
		ieee32 := size == 4 && off == 0 && prec == 32 && eloc == 23 && esize == 8 && mloc == 0 && msize == 23 && bias == 127 && bf1 == 31
		ieee64 := size == 8 && off == 0 && prec == 64 && eloc == 52 && esize == 11 && mloc == 0 && msize == 52 && bias == 1023 && bf1 == 63
		if !ieee32 && !ieee64 {
			return t, unsupported(path, "a %d-byte float that is not IEEE 754 binary32 or binary64", size)
		}
	case 3: // fixed-length string
		t.strPad = int(bf0 & 0x0f)
	case 9: // variable length
		if bf0&0x0f != 1 {
			return t, unsupported(path, "variable-length sequences (only variable-length strings are)")
		}
		if size != 4+r.so+4 {
			return t, formatErr(path, "variable-length string of element size %d, want %d", size, 8+r.so)
		}
		t.vlenStr = true
	default:
		names := map[int]string{2: "time", 4: "bitfield", 5: "opaque", 6: "compound", 7: "reference", 8: "enumeration (numpy bool?)", 10: "array"}
		n := names[t.class]
		if n == "" {
			n = fmt.Sprintf("class %d", t.class)
		}
		return t, unsupported(path, "datatype %s (known: integers, IEEE floats, strings)", n)
	}
	if size <= 0 {
		return t, formatErr(path, "datatype of size %d", size)
	}
	return t, nil
}

func (r *reader) dataspace(b []byte, path string) ([]int, error) {
	c := &cursor{b: b, r: r, path: path}
	version := c.u8()
	nd := int(c.u8())
	c.u8() // flags: maximum dimensions follow the dimensions; not needed
	switch version {
	case 1:
		c.take(5)
	case 2:
		if typ := c.u8(); typ == 2 && !c.bad {
			return nil, unsupported(path, "a null dataspace (an empty dataset)")
		}
	default:
		if !c.bad {
			return nil, unsupported(path, "dataspace version %d", version)
		}
	}
	if nd > maxDims {
		return nil, formatErr(path, "%d dimensions (HDF5 allows %d)", nd, maxDims)
	}
	shape := make([]int, nd)
	n := uint64(1)
	for i := range shape {
		d := c.length()
		if d > maxElements {
			return nil, unsupported(path, "dimension of %d elements (limit %d)", d, maxElements)
		}
		shape[i] = int(d)
		n *= d
		if n > maxElements {
			return nil, unsupported(path, "shape %v: more than %d elements", shape[:i+1], maxElements)
		}
	}
	if err := c.err("dataspace message"); err != nil {
		return nil, err
	}
	return shape, nil
}

type filter struct {
	id     uint16
	values []uint32
}

func (r *reader) filters(b []byte, path string) ([]filter, error) {
	c := &cursor{b: b, r: r, path: path}
	version := c.u8()
	n := int(c.u8())
	if version == 1 {
		c.take(6)
	} else if version != 2 && !c.bad {
		return nil, unsupported(path, "filter pipeline version %d", version)
	}
	var out []filter
	for i := 0; i < n && !c.bad; i++ {
		f := filter{id: c.u16()}
		nameLen := 0
		if version == 1 || f.id >= 256 {
			nameLen = int(c.u16())
		}
		c.u16() // flags
		nv := int(c.u16())
		if version == 1 {
			nameLen = (nameLen + 7) &^ 7
		}
		c.take(nameLen)
		if nv > c.left()/4 {
			return nil, formatErr(path, "filter %d claims %d parameters", f.id, nv)
		}
		for j := 0; j < nv; j++ {
			f.values = append(f.values, c.u32())
		}
		if version == 1 && nv%2 == 1 {
			c.take(4)
		}
		out = append(out, f)
	}
	if err := c.err("filter pipeline message"); err != nil {
		return nil, err
	}
	return out, nil
}

// unfilter undoes the filters on one chunk (skipping those whose mask bit is set).
func (r *reader) unfilter(data []byte, fs []filter, mask uint32, want int, path string) ([]byte, error) {
	for i := len(fs) - 1; i >= 0; i-- {
		if i < 32 && mask&(1<<i) != 0 {
			continue
		}
		f := fs[i]
		switch f.id {
		case 1: // deflate
			zr, err := zlib.NewReader(bytes.NewReader(data))
			if err != nil {
				return nil, formatErr(path, "deflate chunk: %v", err)
			}
			limit := int64(min(want, 1<<30-r.inflated)) + 1
			out, err := io.ReadAll(io.LimitReader(zr, limit))
			if err != nil {
				return nil, formatErr(path, "deflate chunk: %v", err)
			}
			if len(out) > want {
				return nil, formatErr(path, "deflate chunk inflates to more than the %d bytes of a chunk", want)
			}
			r.inflated += len(out)
			if r.inflated > 1<<30 {
				return nil, unsupported(path, "more than 1 GiB of decompressed data")
			}
			data = out
		case 2: // shuffle
			size := 1
			if len(f.values) > 0 {
				size = int(f.values[0])
			}
			if size > 1 && size <= 64 && len(data)%size == 0 {
				n := len(data) / size
				out := make([]byte, len(data))
				for b := 0; b < size; b++ {
					for e := 0; e < n; e++ {
						out[e*size+b] = data[b*n+e]
					}
				}
				data = out
			}
		case 3: // fletcher32: the checksum is appended
			if len(data) < 4 {
				return nil, formatErr(path, "fletcher32 chunk of %d bytes", len(data))
			}
			data = data[:len(data)-4]
		default:
			names := map[uint16]string{4: "szip", 5: "nbit", 6: "scaleoffset", 32000: "lzf", 32001: "blosc", 32015: "zstd"}
			n := names[f.id]
			if n == "" {
				n = fmt.Sprintf("filter %d", f.id)
			}
			return nil, unsupported(path, "the %s compression filter (deflate, shuffle and fletcher32 are supported)", n)
		}
	}
	return data, nil
}

func (r *reader) dataset(msgs []msg, path string) (*Dataset, error) {
	sm, tm, lm := find(msgs, msgDataspace), find(msgs, msgDatatype), find(msgs, msgLayout)
	if sm == nil || tm == nil {
		return nil, formatErr(path, "dataset without a dataspace or datatype message")
	}
	shape, err := r.dataspace(sm.data, path)
	if err != nil {
		return nil, err
	}
	t, err := r.datatype(tm.data, path)
	if err != nil {
		return nil, err
	}
	var fs []filter
	if fm := find(msgs, msgFilters); fm != nil {
		if fs, err = r.filters(fm.data, path); err != nil {
			return nil, err
		}
	}
	n := 1
	for _, s := range shape {
		n *= s
	}
	total := uint64(n) * uint64(t.size)
	if total > 1<<30 {
		return nil, unsupported(path, "a dataset of %d bytes (limit 1 GiB)", total)
	}
	// Data not stored as is (compressed, or never written and so all fill value)
	// is at most deflate's ratio (1032:1) times the file: a small file cannot ask
	// for gigabytes.
	if limit := r.limit(); total > limit {
		return nil, formatErr(path, "a dataset of %d bytes in a file of %d", total, len(r.b))
	}
	raw, err := r.layout(lm.data, shape, t.size, int(total), fs, path)
	if err != nil {
		return nil, err
	}
	d := &Dataset{Shape: shape}
	if len(shape) == 0 {
		d.Shape = nil
	}
	return d, r.decode(d, t, raw, n, path)
}

// limit bounds the bytes of a dataset or chunk that is not stored as is.
func (r *reader) limit() uint64 { return 1<<20 + 1032*uint64(len(r.b)) }

// layout returns the raw bytes of a dataset (total bytes) from its layout message.
func (r *reader) layout(b []byte, shape []int, esize, total int, fs []filter, path string) ([]byte, error) {
	c := &cursor{b: b, r: r, path: path}
	version := c.u8()
	var class byte
	switch version {
	case 1, 2:
		nd := int(c.u8())
		class = c.u8()
		c.take(5)
		addr := uint64(0)
		if class != 0 {
			addr = c.addr()
		}
		dims := make([]int, 0, min(nd, maxDims+1))
		for i := 0; i < nd && !c.bad; i++ {
			dims = append(dims, int(c.u32()))
		}
		if err := c.err("layout message"); err != nil {
			return nil, err
		}
		switch class {
		case 0:
			sz := int(c.u32())
			return r.compact(c.take(sz), c, total, path)
		case 1:
			return r.contiguous(addr, uint64(total), total, path)
		case 2:
			return r.chunked(addr, shape, dims, esize, total, fs, path)
		}
	case 3:
		class = c.u8()
		switch class {
		case 0:
			sz := int(c.u16())
			return r.compact(c.take(sz), c, total, path)
		case 1:
			addr, size := c.addr(), c.length()
			if err := c.err("layout message"); err != nil {
				return nil, err
			}
			return r.contiguous(addr, size, total, path)
		case 2:
			nd := int(c.u8())
			addr := c.addr()
			dims := make([]int, 0, min(nd, maxDims+1))
			for i := 0; i < nd && !c.bad; i++ {
				dims = append(dims, int(c.u32()))
			}
			if err := c.err("layout message"); err != nil {
				return nil, err
			}
			return r.chunked(addr, shape, dims, esize, total, fs, path)
		}
	case 4:
		class = c.u8()
		switch class {
		case 0:
			sz := int(c.u16())
			return r.compact(c.take(sz), c, total, path)
		case 1:
			addr, size := c.addr(), c.length()
			if err := c.err("layout message"); err != nil {
				return nil, err
			}
			return r.contiguous(addr, size, total, path)
		case 2:
			flags := c.u8()
			nd := int(c.u8())
			enc := int(c.u8())
			for i := 0; i < nd && !c.bad; i++ {
				c.uint(enc)
			}
			idx := c.u8()
			if err := c.err("layout message"); err != nil {
				return nil, err
			}
			if idx != 1 {
				return nil, unsupported(path, "chunk index type %d (only the single-chunk index of layout version 4 is)", idx)
			}
			size, mask := uint64(total), uint32(0)
			if flags&0x02 != 0 {
				size, mask = c.length(), c.u32()
			}
			addr := c.addr()
			if err := c.err("layout message"); err != nil {
				return nil, err
			}
			data, err := r.at(addr, size, path, "chunk")
			if err != nil {
				return nil, err
			}
			data, err = r.unfilter(data, fs, mask, total, path)
			if err != nil {
				return nil, err
			}
			if len(data) != total {
				return nil, formatErr(path, "single chunk holds %d bytes, the dataset %d", len(data), total)
			}
			return data, nil
		}
	default:
		if c.bad {
			return nil, c.err("layout message")
		}
		return nil, unsupported(path, "data layout message version %d", version)
	}
	if err := c.err("layout message"); err != nil {
		return nil, err
	}
	return nil, unsupported(path, "data layout class %d (virtual datasets?)", class)
}

func (r *reader) compact(data []byte, c *cursor, total int, path string) ([]byte, error) {
	if err := c.err("compact layout"); err != nil {
		return nil, err
	}
	if len(data) < total {
		return nil, formatErr(path, "compact data of %d bytes, the dataset needs %d", len(data), total)
	}
	return data[:total], nil
}

func (r *reader) contiguous(addr, size uint64, total int, path string) ([]byte, error) {
	if addr == r.undef() {
		return make([]byte, total), nil // never written: the fill value, zero
	}
	if size < uint64(total) {
		return nil, formatErr(path, "contiguous data of %d bytes, the dataset needs %d", size, total)
	}
	return r.at(addr, uint64(total), path, "dataset data")
}

// chunked assembles a dataset from the chunks of a version 1 B-tree index.
func (r *reader) chunked(addr uint64, shape, dims []int, esize, total int, fs []filter, path string) ([]byte, error) {
	rank := len(shape)
	if len(dims) != rank+1 {
		return nil, formatErr(path, "chunk of %d dimensions for a dataset of %d", len(dims), rank)
	}
	if dims[rank] != esize {
		return nil, formatErr(path, "chunk element size %d, datatype size %d", dims[rank], esize)
	}
	chunkElems := 1
	for _, d := range dims[:rank] {
		if d <= 0 || d > maxElements || chunkElems*d > maxElements {
			return nil, formatErr(path, "chunk dimensions %v", dims)
		}
		chunkElems *= d
	}
	out := make([]byte, total)
	if addr == r.undef() {
		return out, nil
	}
	cells := 1 // chunks of the grid: a tree listing more is damaged
	for i := 0; i < rank; i++ {
		cells *= (shape[i] + dims[i] - 1) / dims[i]
	}
	visited, chunks := 0, 0
	err := r.chunkTree(addr, rank, path, 0, &visited, func(size, mask uint32, offs []uint64, at uint64) error {
		if chunks++; chunks > cells {
			return formatErr(path, "the chunk index lists more than the %d chunks of the shape %v", cells, shape)
		}
		data, err := r.at(at, uint64(size), path, "chunk")
		if err != nil {
			return err
		}
		want := chunkElems * esize
		if uint64(want) > r.limit() {
			return formatErr(path, "a chunk of %d bytes in a file of %d", want, len(r.b))
		}
		if data, err = r.unfilter(data, fs, mask, want, path); err != nil {
			return err
		}
		if len(data) != want {
			return formatErr(path, "chunk at %v holds %d bytes, want %d", offs, len(data), want)
		}
		for i := 0; i < rank; i++ {
			if offs[i] >= uint64(shape[i]) || offs[i]%uint64(dims[i]) != 0 {
				return formatErr(path, "chunk offset %v outside the shape %v or off the chunk grid %v", offs[:rank], shape, dims[:rank])
			}
		}
		// Copy element by element, dropping the parts past the dataset's edges.
		local := make([]int, rank)
		for e := 0; e < chunkElems; e++ {
			rem := e
			for i := rank - 1; i >= 0; i-- {
				local[i] = rem % dims[i]
				rem /= dims[i]
			}
			dst, inside := 0, true
			for i := 0; i < rank; i++ {
				g := int(offs[i]) + local[i]
				if g >= shape[i] {
					inside = false
					break
				}
				dst = dst*shape[i] + g
			}
			if inside {
				copy(out[dst*esize:(dst+1)*esize], data[e*esize:(e+1)*esize])
			}
		}
		return nil
	})
	return out, err
}

func (r *reader) chunkTree(addr uint64, rank int, path string, depth int, visited *int, f func(size, mask uint32, offs []uint64, at uint64) error) error {
	*visited++
	if *visited > maxTreeNode || depth > maxDepth {
		return formatErr(path, "chunk B-tree deeper than %d or larger than %d nodes (a loop?)", maxDepth, maxTreeNode)
	}
	b, err := r.rest(addr, path, "chunk B-tree node")
	if err != nil {
		return err
	}
	c := &cursor{b: b, r: r, path: path}
	if sig := c.take(4); c.bad || string(sig) != "TREE" {
		return formatErr(path, "chunk B-tree node at %d has no TREE signature", addr)
	}
	if typ := c.u8(); typ != 1 {
		return formatErr(path, "chunk B-tree node at %d has type %d, want 1", addr, typ)
	}
	level := c.u8()
	n := int(c.u16())
	c.addr()
	c.addr()
	type entry struct {
		size, mask uint32
		offs       []uint64
		child      uint64
	}
	var es []entry
	for i := 0; i < n && !c.bad; i++ {
		e := entry{size: c.u32(), mask: c.u32(), offs: make([]uint64, rank+1)}
		for j := range e.offs {
			e.offs[j] = c.uint(8)
		}
		e.child = c.addr()
		es = append(es, e)
	}
	if err := c.err("chunk B-tree node"); err != nil {
		return err
	}
	for _, e := range es {
		if level > 0 {
			if err := r.chunkTree(e.child, rank, path, depth+1, visited, f); err != nil {
				return err
			}
			continue
		}
		if err := f(e.size, e.mask, e.offs, e.child); err != nil {
			return err
		}
	}
	return nil
}

// gheap returns the objects of the global heap collection at addr.
func (r *reader) gheap(addr uint64, path string) (map[uint32][]byte, error) {
	if h, ok := r.heaps[addr]; ok {
		return h, nil
	}
	b, err := r.at(addr, uint64(8+r.sl), path, "global heap collection")
	if err != nil {
		return nil, err
	}
	if string(b[:4]) != "GCOL" {
		return nil, formatErr(path, "global heap collection at %d has no GCOL signature", addr)
	}
	c := &cursor{b: b[8:], r: r, path: path}
	size := c.length()
	all, err := r.at(addr, size, path, "global heap collection")
	if err != nil {
		return nil, err
	}
	hc := &cursor{b: all, off: 8 + r.sl, r: r, path: path}
	h := map[uint32][]byte{}
	for hc.left() >= 8+r.sl {
		idx := hc.u16()
		hc.u16()
		hc.take(4)
		n := hc.length()
		if idx == 0 {
			break // free space: the rest of the collection
		}
		if n > uint64(hc.left()) {
			return nil, formatErr(path, "global heap object %d of %d bytes in a collection with %d left", idx, n, hc.left())
		}
		h[uint32(idx)] = hc.take(int(n))
		if pad := int(n % 8); pad != 0 {
			hc.take(min(8-pad, hc.left()))
		}
	}
	r.heaps[addr] = h
	return h, nil
}

func (r *reader) decode(d *Dataset, t dtype, raw []byte, n int, path string) error {
	var order binary.ByteOrder = binary.LittleEndian
	if t.bigEndian {
		order = binary.BigEndian
	}
	switch t.class {
	case 0:
		d.Kind, d.IntSize, d.Unsigned = Int, t.size, !t.signed
		d.Ints = make([]int64, n)
		for i := range d.Ints {
			e := raw[i*t.size : (i+1)*t.size]
			var u uint64
			switch t.size {
			case 1:
				u = uint64(e[0])
			case 2:
				u = uint64(order.Uint16(e))
			case 4:
				u = uint64(order.Uint32(e))
			case 8:
				u = order.Uint64(e)
			}
			if t.signed {
				shift := 64 - 8*t.size
				d.Ints[i] = int64(u<<shift) >> shift
			} else {
				if u > math.MaxInt64 {
					return unsupported(path, "unsigned value %d above the int64 range", u)
				}
				d.Ints[i] = int64(u)
			}
		}
	case 1:
		if t.size == 4 {
			d.Kind = Float32
			d.F32 = make([]float32, n)
			for i := range d.F32 {
				d.F32[i] = math.Float32frombits(order.Uint32(raw[4*i:]))
			}
		} else {
			d.Kind = Float64
			d.F64 = make([]float64, n)
			for i := range d.F64 {
				d.F64[i] = math.Float64frombits(order.Uint64(raw[8*i:]))
			}
		}
	case 3:
		d.Kind, d.FixedString = String, true
		d.Strings = make([]string, n)
		for i := range d.Strings {
			s := raw[i*t.size : (i+1)*t.size]
			if t.strPad == 2 {
				s = bytes.TrimRight(s, " ")
			} else if j := bytes.IndexByte(s, 0); j >= 0 {
				s = s[:j]
			}
			d.Strings[i] = string(s)
		}
	case 9:
		d.Kind = String
		d.Strings = make([]string, n)
		for i := range d.Strings {
			c := &cursor{b: raw[i*t.size : (i+1)*t.size], r: r, path: path}
			length, addr, idx := c.u32(), c.addr(), c.u32()
			if err := c.err("variable-length string"); err != nil {
				return err
			}
			if length == 0 {
				continue
			}
			h, err := r.gheap(addr, path)
			if err != nil {
				return err
			}
			obj, ok := h[idx]
			if !ok {
				return formatErr(path, "string %d refers to global heap object %d, which collection %d lacks", i, idx, addr)
			}
			if uint64(length) > uint64(len(obj)) {
				return formatErr(path, "string %d of %d bytes in a heap object of %d", i, length, len(obj))
			}
			d.Strings[i] = strings.Clone(string(obj[:length]))
		}
	default:
		return errors.New("unreachable datatype class")
	}
	return nil
}
