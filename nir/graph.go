// Package nir converts asf networks to and from NIR, the Neuromorphic Intermediate
// Representation (github.com/neuromorphs/NIR): the graph format that snnTorch,
// Norse, Sinabs, Rockpool, Spyx, Lava-DL, SpiNNaker2 and other SNN tools read and
// write, stored as HDF5 exactly as the reference Python package's nir.write lays
// it out.
//
// Graph is the file's content: typed nodes with their parameters and the edges
// between them. Export builds the graph of a trained engine.Model (docs/interop.md
// has the mapping table and the derivation that the NIR semantics reproduce asf's
// discrete update); Import turns a graph back into a network the engine runs,
// naming the node and field of anything asf cannot represent.
package nir

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/asfnet/asf/internal/hdf5"
)

// ErrGraph is returned (wrapped) for a file that is valid HDF5 but not a valid NIR
// graph (a node without a type, an edge to a missing node, a parameter of the
// wrong type or shape).
var ErrGraph = errors.New("nir: malformed graph")

// ErrUnsupported is returned (wrapped) by Import for a valid graph that asf cannot
// represent; the message names the node, its type and the field.
var ErrUnsupported = errors.New("nir: graph not representable in asf")

// Version is the NIR version written in the files (the reference package's).
const Version = "1.0.7"

// Node is one NIR node: its type (e.g. "Conv2d", "IF") and its parameters, the
// datasets of its HDF5 group, by field name.
type Node struct {
	Type     string
	Params   map[string]*hdf5.Dataset
	Metadata map[string]*hdf5.Dataset // the node's "metadata" group, if any
	Graph    *Graph                   // a nested NIRGraph node's content
}

// Graph is a NIR graph: named nodes and directed edges (pre, post).
type Graph struct {
	Version  string // the file's "version" (empty inside a nested graph)
	Nodes    map[string]*Node
	Edges    [][2]string
	Metadata map[string]*hdf5.Dataset
}

// NodeNames returns the node names in byte order.
func (g *Graph) NodeNames() []string {
	out := make([]string, 0, len(g.Nodes))
	for n := range g.Nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ReadFile reads the NIR file at path.
func ReadFile(path string) (*Graph, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	g, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Unmarshal decodes a NIR file: the HDF5 root holds "version" and the graph
// node "node".
func Unmarshal(b []byte) (*Graph, error) {
	root, err := hdf5.Read(b)
	if err != nil {
		return nil, err
	}
	node, ok := root.Group("node")
	if !ok {
		return nil, fmt.Errorf("%w: no group \"node\" at the root (members: %v); a NIR file holds the graph there", ErrGraph, root.Names())
	}
	ver := ""
	if v, ok := root.Dataset("version"); ok {
		if v.Kind != hdf5.String || len(v.Strings) != 1 {
			return nil, fmt.Errorf("%w: /version: want a string, found %v of shape %v", ErrGraph, v.Kind, v.Shape)
		}
		ver = v.Strings[0]
	}
	n, err := readNode(node, "/node", 0)
	if err != nil {
		return nil, err
	}
	if n.Graph == nil {
		return nil, fmt.Errorf("%w: /node has type %q; the root node of a NIR file is a NIRGraph", ErrGraph, n.Type)
	}
	n.Graph.Version = ver
	return n.Graph, nil
}

func readNode(grp *hdf5.Group, path string, depth int) (*Node, error) {
	t, ok := grp.Dataset("type")
	if !ok {
		return nil, fmt.Errorf("%w: %s: node without a \"type\" (members: %v)", ErrGraph, path, grp.Names())
	}
	if t.Kind != hdf5.String || len(t.Strings) != 1 || len(t.Shape) != 0 {
		return nil, fmt.Errorf("%w: %s/type: want a scalar string, found %v of shape %v", ErrGraph, path, t.Kind, t.Shape)
	}
	n := &Node{Type: t.Strings[0], Params: map[string]*hdf5.Dataset{}}
	for _, name := range grp.Names() {
		if name == "type" {
			continue
		}
		if d, ok := grp.Dataset(name); ok {
			n.Params[name] = d
			continue
		}
		sub, _ := grp.Group(name)
		switch {
		case name == "metadata":
			md, err := readMetadata(sub, path+"/metadata")
			if err != nil {
				return nil, err
			}
			n.Metadata = md
		case name == "nodes" && n.Type == "NIRGraph":
		default:
			return nil, fmt.Errorf("%w: %s/%s: unexpected group in a %s node", ErrGraph, path, name, n.Type)
		}
	}
	if n.Type != "NIRGraph" {
		return n, nil
	}
	if depth > 16 {
		return nil, fmt.Errorf("%w: %s: graphs nested deeper than 16", ErrGraph, path)
	}
	g := &Graph{Nodes: map[string]*Node{}, Metadata: n.Metadata}
	nodes, ok := grp.Group("nodes")
	if !ok {
		return nil, fmt.Errorf("%w: %s: NIRGraph without \"nodes\"", ErrGraph, path)
	}
	for _, name := range nodes.Names() {
		sub, ok := nodes.Group(name)
		if !ok {
			return nil, fmt.Errorf("%w: %s/nodes/%s: a dataset where a node group belongs", ErrGraph, path, name)
		}
		c, err := readNode(sub, path+"/nodes/"+name, depth+1)
		if err != nil {
			return nil, err
		}
		g.Nodes[name] = c
	}
	e, ok := n.Params["edges"]
	if !ok {
		return nil, fmt.Errorf("%w: %s: NIRGraph without \"edges\"", ErrGraph, path)
	}
	delete(n.Params, "edges")
	if e.Kind != hdf5.String || !(len(e.Shape) == 2 && e.Shape[1] == 2 || len(e.Shape) == 1 && e.Shape[0] == 0) {
		return nil, fmt.Errorf("%w: %s/edges: want an N x 2 array of strings, found %v of shape %v", ErrGraph, path, e.Kind, e.Shape)
	}
	for i := 0; i+1 < len(e.Strings); i += 2 {
		pre, post := e.Strings[i], e.Strings[i+1]
		for _, end := range []string{pre, post} {
			if _, ok := g.Nodes[end]; !ok {
				return nil, fmt.Errorf("%w: %s/edges: edge %d (%q -> %q) names node %q, which the graph lacks (nodes: %v)", ErrGraph, path, i/2, pre, post, end, g.NodeNames())
			}
		}
		g.Edges = append(g.Edges, [2]string{pre, post})
	}
	n.Graph = g
	return n, nil
}

func readMetadata(grp *hdf5.Group, path string) (map[string]*hdf5.Dataset, error) {
	md := map[string]*hdf5.Dataset{}
	for _, name := range grp.Names() {
		d, ok := grp.Dataset(name)
		if !ok {
			continue // nested metadata dictionaries carry nothing asf reads
		}
		md[name] = d
	}
	return md, nil
}

// Marshal encodes g as a NIR file, laid out as the reference nir.write does:
// /version, and /node the NIRGraph group with "type", "edges", "nodes/<name>/..."
// and "metadata" groups where there is metadata.
func (g *Graph) Marshal() ([]byte, error) {
	root := hdf5.NewGroup()
	ver := g.Version
	if ver == "" {
		ver = Version
	}
	if err := root.AddDataset("version", hdf5.StringScalar(ver)); err != nil {
		return nil, err
	}
	grp, err := root.AddGroup("node")
	if err != nil {
		return nil, err
	}
	if err := writeGraph(grp, g); err != nil {
		return nil, err
	}
	return hdf5.Marshal(root)
}

// WriteFile writes g to path.
func (g *Graph) WriteFile(path string) error {
	b, err := g.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func writeGraph(grp *hdf5.Group, g *Graph) error {
	if err := grp.AddDataset("type", hdf5.StringScalar("NIRGraph")); err != nil {
		return err
	}
	edges := &hdf5.Dataset{Kind: hdf5.String, Shape: []int{len(g.Edges), 2}}
	for _, e := range g.Edges {
		edges.Strings = append(edges.Strings, e[0], e[1])
	}
	if len(g.Edges) == 0 {
		edges.Shape = []int{0}
	}
	if err := grp.AddDataset("edges", edges); err != nil {
		return err
	}
	if err := writeMetadata(grp, g.Metadata); err != nil {
		return err
	}
	nodes, err := grp.AddGroup("nodes")
	if err != nil {
		return err
	}
	for _, name := range g.NodeNames() {
		n := g.Nodes[name]
		ng, err := nodes.AddGroup(name)
		if err != nil {
			return fmt.Errorf("node %q: %w", name, err)
		}
		if n.Graph != nil {
			if err := writeGraph(ng, n.Graph); err != nil {
				return err
			}
			continue
		}
		if err := ng.AddDataset("type", hdf5.StringScalar(n.Type)); err != nil {
			return err
		}
		keys := make([]string, 0, len(n.Params))
		for k := range n.Params {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := ng.AddDataset(k, n.Params[k]); err != nil {
				return fmt.Errorf("node %q: %w", name, err)
			}
		}
		if err := writeMetadata(ng, n.Metadata); err != nil {
			return err
		}
	}
	return nil
}

func writeMetadata(grp *hdf5.Group, md map[string]*hdf5.Dataset) error {
	if len(md) == 0 {
		return nil // nir.write skips empty metadata
	}
	mg, err := grp.AddGroup("metadata")
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := mg.AddDataset(k, md[k]); err != nil {
			return err
		}
	}
	return nil
}
