package hdf5

import (
	"fmt"
	"strings"
)

// dump renders a tree as text, one member per line, for tests.
func dump(g *Group, indent string) string {
	var b strings.Builder
	for _, n := range g.Names() {
		if c, ok := g.Group(n); ok {
			fmt.Fprintf(&b, "%s%s/\n%s", indent, n, dump(c, indent+"  "))
			continue
		}
		d, _ := g.Dataset(n)
		var v any
		switch d.Kind {
		case Float32:
			v = d.F32
		case Float64:
			v = d.F64
		case Int:
			v = d.Ints
		case String:
			v = d.Strings
		}
		fmt.Fprintf(&b, "%s%s %v %v %v\n", indent, n, d.Kind, d.Shape, v)
	}
	return b.String()
}
