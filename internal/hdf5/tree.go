package hdf5

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrFormat is returned (wrapped) for a file that is not valid HDF5 or is damaged.
var ErrFormat = errors.New("hdf5: malformed file")

// ErrUnsupported is returned (wrapped) for valid HDF5 that uses a feature this
// package does not implement.
var ErrUnsupported = errors.New("hdf5: unsupported feature")

// ErrTree is returned (wrapped) for a tree that cannot be written (a bad name, a
// dataset whose data does not fit its shape).
var ErrTree = errors.New("hdf5: bad tree")

// Kind is the element type of a dataset.
type Kind int

// The element kinds.
const (
	Float32 Kind = iota // IEEE 754 binary32
	Float64             // IEEE 754 binary64
	Int                 // integers: Dataset.Ints, with Dataset.IntSize bytes, signed unless Dataset.Unsigned
	String              // strings: Dataset.Strings
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Int:
		return "int"
	case String:
		return "string"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Dataset is an n-dimensional array (a scalar when Shape is empty) of one kind.
// Exactly the slice of its kind holds data, in row-major order, with as many
// values as the shape's product.
type Dataset struct {
	Kind     Kind
	Shape    []int
	F32      []float32
	F64      []float64
	Ints     []int64 // Int: values (unsigned 64-bit values above MaxInt64 are an error on reading)
	IntSize  int     // Int: bytes per element when written (1, 2, 4 or 8; 0 means 8)
	Unsigned bool    // Int: stored unsigned
	Strings  []string
	// FixedString is true for a string dataset read from fixed-length strings
	// (Write always writes variable-length UTF-8 strings).
	FixedString bool
}

// Len is the number of elements the shape holds (1 for a scalar).
func (d *Dataset) Len() int {
	n := 1
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// values is the length of the slice of the dataset's kind.
func (d *Dataset) values() int {
	switch d.Kind {
	case Float32:
		return len(d.F32)
	case Float64:
		return len(d.F64)
	case Int:
		return len(d.Ints)
	case String:
		return len(d.Strings)
	}
	return -1
}

// StringScalar returns a scalar string dataset.
func StringScalar(s string) *Dataset { return &Dataset{Kind: String, Strings: []string{s}} }

// Float32Array returns a float32 dataset of the given shape (data is not copied).
func Float32Array(shape []int, data []float32) *Dataset {
	return &Dataset{Kind: Float32, Shape: shape, F32: data}
}

// Int64Array returns a one-dimensional int64 dataset.
func Int64Array(v ...int64) *Dataset {
	return &Dataset{Kind: Int, Shape: []int{len(v)}, Ints: v, IntSize: 8}
}

// Int64Scalar returns a scalar int64 dataset.
func Int64Scalar(v int64) *Dataset { return &Dataset{Kind: Int, Ints: []int64{v}, IntSize: 8} }

// Float64Scalar returns a scalar float64 dataset.
func Float64Scalar(v float64) *Dataset { return &Dataset{Kind: Float64, F64: []float64{v}} }

// Group is a set of named members: groups and datasets. Names are unique.
type Group struct {
	names    []string
	groups   map[string]*Group
	datasets map[string]*Dataset
}

// NewGroup returns an empty group.
func NewGroup() *Group {
	return &Group{groups: map[string]*Group{}, datasets: map[string]*Dataset{}}
}

// Names returns the member names in byte order (the order HDF5 lists them in).
func (g *Group) Names() []string {
	out := slices.Clone(g.names)
	slices.Sort(out)
	return out
}

// Group returns the member group called name.
func (g *Group) Group(name string) (*Group, bool) {
	c, ok := g.groups[name]
	return c, ok
}

// Dataset returns the member dataset called name.
func (g *Group) Dataset(name string) (*Dataset, bool) {
	d, ok := g.datasets[name]
	return d, ok
}

func checkName(name string) error {
	switch {
	case name == "" || name == "." || strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: member name %q: want a non-empty name without '/' or NUL", ErrTree, name)
	case len(name) > 255:
		return fmt.Errorf("%w: member name of %d bytes: at most 255", ErrTree, len(name))
	}
	return nil
}

func (g *Group) has(name string) bool {
	_, a := g.groups[name]
	_, b := g.datasets[name]
	return a || b
}

// AddGroup adds and returns an empty member group. It fails on a bad or taken name.
func (g *Group) AddGroup(name string) (*Group, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if g.has(name) {
		return nil, fmt.Errorf("%w: member %q exists", ErrTree, name)
	}
	c := NewGroup()
	g.names = append(g.names, name)
	g.groups[name] = c
	return c, nil
}

// AddDataset adds d as the member called name. It fails on a bad or taken name or
// when d's data does not fit its shape.
func (g *Group) AddDataset(name string, d *Dataset) error {
	if err := checkName(name); err != nil {
		return err
	}
	if g.has(name) {
		return fmt.Errorf("%w: member %q exists", ErrTree, name)
	}
	if err := d.check(); err != nil {
		return fmt.Errorf("dataset %q: %w", name, err)
	}
	g.names = append(g.names, name)
	g.datasets[name] = d
	return nil
}

func (d *Dataset) check() error {
	n := 1
	for _, s := range d.Shape {
		if s < 0 || (s > 0 && n > (1<<40)/s) {
			return fmt.Errorf("%w: shape %v", ErrTree, d.Shape)
		}
		n *= s
	}
	if d.Kind < Float32 || d.Kind > String {
		return fmt.Errorf("%w: unknown kind %d", ErrTree, int(d.Kind))
	}
	if v := d.values(); v != n {
		return fmt.Errorf("%w: shape %v holds %d values, the %v data has %d", ErrTree, d.Shape, n, d.Kind, v)
	}
	if d.Kind == Int {
		switch d.IntSize {
		case 0, 1, 2, 4, 8:
		default:
			return fmt.Errorf("%w: integer size %d: want 1, 2, 4 or 8 bytes", ErrTree, d.IntSize)
		}
		size := d.IntSize
		if size == 0 {
			size = 8
		}
		for _, v := range d.Ints {
			if !intFits(v, size, d.Unsigned) {
				return fmt.Errorf("%w: value %d does not fit %d-byte integers (unsigned %v)", ErrTree, v, size, d.Unsigned)
			}
		}
	}
	return nil
}

func intFits(v int64, size int, unsigned bool) bool {
	if unsigned {
		return v >= 0 && (size == 8 || v < 1<<(8*size))
	}
	if size == 8 {
		return true
	}
	lim := int64(1) << (8*size - 1)
	return v >= -lim && v < lim
}
