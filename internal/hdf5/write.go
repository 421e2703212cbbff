package hdf5

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// HDF5 constants shared by the reader and the writer.
const (
	undef = ^uint64(0) // the undefined address

	msgNil        = 0x00
	msgDataspace  = 0x01
	msgLinkInfo   = 0x02
	msgDatatype   = 0x03
	msgFillOld    = 0x04
	msgFill       = 0x05
	msgLink       = 0x06
	msgLayout     = 0x08
	msgGroupInfo  = 0x0a
	msgFilters    = 0x0b
	msgAttribute  = 0x0c
	msgContinue   = 0x10
	msgSymbolTbl  = 0x11
	gheapMinSize  = 4096 // HDF5's minimum global heap collection size
	superblockLen = 48   // version 2 superblock with 8-byte offsets
)

var signature = []byte{0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'}

// Marshal encodes the tree under root as an HDF5 file (see the package doc for
// the format).
func Marshal(root *Group) ([]byte, error) {
	w := &writer{}
	if err := w.collectStrings(root, "/"); err != nil {
		return nil, err
	}
	w.buf = make([]byte, superblockLen)
	w.writeHeap()
	rootAddr, err := w.writeGroup(root, "/")
	if err != nil {
		return nil, err
	}
	sb := w.buf[:0]
	sb = append(sb, signature...)
	sb = append(sb, 2, 8, 8, 0)
	sb = binary.LittleEndian.AppendUint64(sb, 0)
	sb = binary.LittleEndian.AppendUint64(sb, undef)
	sb = binary.LittleEndian.AppendUint64(sb, uint64(len(w.buf)))
	sb = binary.LittleEndian.AppendUint64(sb, rootAddr)
	binary.LittleEndian.PutUint32(w.buf[44:], lookup3(sb, 0))
	return w.buf, nil
}

// Write encodes the tree under root to out.
func Write(out io.Writer, root *Group) error {
	b, err := Marshal(root)
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

type writer struct {
	buf     []byte
	strs    []string // strings in heap order; object index = position + 1
	heapAt  uint64
	objects map[*Dataset]int // first heap object index of a string dataset
}

func (w *writer) collectStrings(g *Group, path string) error {
	if w.objects == nil {
		w.objects = map[*Dataset]int{}
	}
	for _, name := range g.Names() {
		p := path + name
		if c, ok := g.groups[name]; ok {
			if err := w.collectStrings(c, p+"/"); err != nil {
				return err
			}
			continue
		}
		d := g.datasets[name]
		if err := d.check(); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if d.Kind == String {
			if _, seen := w.objects[d]; seen {
				return fmt.Errorf("%w: %s: the same dataset value is linked twice", ErrTree, p)
			}
			w.objects[d] = len(w.strs) + 1
			w.strs = append(w.strs, d.Strings...)
		}
	}
	if len(w.strs) > math.MaxUint16-1 {
		return fmt.Errorf("%w: %d strings: this writer puts them in one global heap collection of at most 65534", ErrTree, len(w.strs))
	}
	return nil
}

// writeHeap writes the one global heap collection holding every string.
func (w *writer) writeHeap() {
	if len(w.strs) == 0 {
		return
	}
	w.heapAt = uint64(len(w.buf))
	start := len(w.buf)
	w.buf = append(w.buf, 'G', 'C', 'O', 'L', 1, 0, 0, 0)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, 0) // size, patched below
	for i, s := range w.strs {
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(i+1))
		w.buf = binary.LittleEndian.AppendUint16(w.buf, 1) // reference count
		w.buf = append(w.buf, 0, 0, 0, 0)
		w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(len(s)))
		w.buf = append(w.buf, s...)
		w.pad8(start)
	}
	used := len(w.buf) - start
	size := max(gheapMinSize, used+16)
	size = (size + 7) &^ 7
	// The free-space object (index 0) covers the rest, its header included.
	w.buf = binary.LittleEndian.AppendUint16(w.buf, 0)
	w.buf = binary.LittleEndian.AppendUint16(w.buf, 0)
	w.buf = append(w.buf, 0, 0, 0, 0)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(size-used))
	w.buf = append(w.buf, make([]byte, size-used-16)...)
	binary.LittleEndian.PutUint64(w.buf[start+8:], uint64(size))
}

func (w *writer) pad8(start int) {
	for (len(w.buf)-start)%8 != 0 {
		w.buf = append(w.buf, 0)
	}
}

type message struct {
	typ   byte
	flags byte
	data  []byte
}

// writeHeader writes a version 2 object header holding msgs and returns its address.
func (w *writer) writeHeader(msgs []message) uint64 {
	addr := uint64(len(w.buf))
	start := len(w.buf)
	size := 0
	for _, m := range msgs {
		size += 4 + len(m.data)
	}
	w.buf = append(w.buf, 'O', 'H', 'D', 'R', 2, 0x02)
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(size))
	for _, m := range msgs {
		w.buf = append(w.buf, m.typ)
		w.buf = binary.LittleEndian.AppendUint16(w.buf, uint16(len(m.data)))
		w.buf = append(w.buf, m.flags)
		w.buf = append(w.buf, m.data...)
	}
	w.buf = binary.LittleEndian.AppendUint32(w.buf, lookup3(w.buf[start:], 0))
	return addr
}

func (w *writer) writeGroup(g *Group, path string) (uint64, error) {
	names := g.Names()
	addrs := make([]uint64, len(names))
	for i, name := range names {
		var err error
		if c, ok := g.groups[name]; ok {
			addrs[i], err = w.writeGroup(c, path+name+"/")
		} else {
			addrs[i], err = w.writeDataset(g.datasets[name], path+name)
		}
		if err != nil {
			return 0, err
		}
	}
	linfo := []byte{0, 0}
	linfo = binary.LittleEndian.AppendUint64(linfo, undef) // no fractal heap: compact links
	linfo = binary.LittleEndian.AppendUint64(linfo, undef) // no name index
	msgs := []message{{typ: msgLinkInfo, data: linfo}, {typ: msgGroupInfo, data: []byte{0, 0}}}
	for i, name := range names {
		l := []byte{1, 0, byte(len(name))}
		l = append(l, name...)
		l = binary.LittleEndian.AppendUint64(l, addrs[i])
		msgs = append(msgs, message{typ: msgLink, data: l})
	}
	return w.writeHeader(msgs), nil
}

// datatype returns the encoded datatype message of d.
func datatype(d *Dataset) []byte {
	switch d.Kind {
	case Float32:
		b := []byte{0x11, 0x20, 31, 0}
		b = binary.LittleEndian.AppendUint32(b, 4)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, 32)
		b = append(b, 23, 8, 0, 23)
		return binary.LittleEndian.AppendUint32(b, 127)
	case Float64:
		b := []byte{0x11, 0x20, 63, 0}
		b = binary.LittleEndian.AppendUint32(b, 8)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, 64)
		b = append(b, 52, 11, 0, 52)
		return binary.LittleEndian.AppendUint32(b, 1023)
	case Int:
		size := intSize(d)
		var flags byte = 0x08 // signed
		if d.Unsigned {
			flags = 0
		}
		b := []byte{0x10, flags, 0, 0}
		b = binary.LittleEndian.AppendUint32(b, uint32(size))
		b = binary.LittleEndian.AppendUint16(b, 0)
		return binary.LittleEndian.AppendUint16(b, uint16(8*size))
	}
	// Variable-length UTF-8 string of unsigned bytes.
	b := []byte{0x19, 0x01, 0x01, 0}
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = append(b, 0x10, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 0)
	return binary.LittleEndian.AppendUint16(b, 8)
}

func intSize(d *Dataset) int {
	if d.IntSize == 0 {
		return 8
	}
	return d.IntSize
}

// raw returns the stored bytes of d's elements.
func (w *writer) raw(d *Dataset) []byte {
	var b []byte
	switch d.Kind {
	case Float32:
		b = make([]byte, 0, 4*len(d.F32))
		for _, v := range d.F32 {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	case Float64:
		b = make([]byte, 0, 8*len(d.F64))
		for _, v := range d.F64 {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	case Int:
		size := intSize(d)
		b = make([]byte, 0, size*len(d.Ints))
		for _, v := range d.Ints {
			for i := range size {
				b = append(b, byte(uint64(v)>>(8*i)))
			}
		}
	case String:
		first := w.objects[d]
		b = make([]byte, 0, 16*len(d.Strings))
		for i, s := range d.Strings {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = binary.LittleEndian.AppendUint64(b, w.heapAt)
			b = binary.LittleEndian.AppendUint32(b, uint32(first+i))
		}
	}
	return b
}

func (w *writer) writeDataset(d *Dataset, path string) (uint64, error) {
	data := w.raw(d)
	addr := undef
	if len(data) > 0 {
		addr = uint64(len(w.buf))
		w.buf = append(w.buf, data...)
	}
	space := []byte{2, byte(len(d.Shape)), 0, 1}
	if len(d.Shape) == 0 {
		space[3] = 0
	}
	if len(d.Shape) > 32 {
		return 0, fmt.Errorf("%w: %s: %d dimensions; HDF5 allows 32", ErrTree, path, len(d.Shape))
	}
	for _, s := range d.Shape {
		space = binary.LittleEndian.AppendUint64(space, uint64(s))
	}
	layout := []byte{3, 1}
	layout = binary.LittleEndian.AppendUint64(layout, addr)
	layout = binary.LittleEndian.AppendUint64(layout, uint64(len(data)))
	return w.writeHeader([]message{
		{typ: msgDataspace, data: space},
		{typ: msgDatatype, flags: 1, data: datatype(d)},
		{typ: msgFill, flags: 1, data: []byte{3, 0x0a}},
		{typ: msgLayout, data: layout},
	}), nil
}
