// Package hdf5 reads and writes the subset of the HDF5 file format that NIR
// (Neuromorphic Intermediate Representation) files use, in pure Go: a tree of
// groups holding datasets of numbers and strings, without attributes.
//
// # What it writes
//
// Write produces the format of HDF5 1.8 and later ("libver v108"): a version 2
// superblock, version 2 object headers with Jenkins lookup3 checksums, groups whose
// links are stored compactly in the group's object header (link info, group info
// and one link message per member), and datasets with a version 2 dataspace
// (scalar or simple), a datatype (little-endian IEEE float32/float64, signed or
// unsigned little-endian integers of 1, 2, 4 or 8 bytes, or UTF-8 variable-length
// strings), a fill value message and a contiguous data layout. Variable-length
// strings live in one global heap collection. Every HDF5 library since 1.8 (and so
// h5py, which the NIR tools use) reads these files.
//
// # What it reads
//
// Read accepts what Write produces and what h5py writes by default (HDF5's
// "earliest" format): superblock versions 0 to 3 (also behind a user block),
// object header versions 1 and 2 with continuation blocks, old-style groups (symbol
// table, version 1 B-tree, local heap and symbol nodes) and compact new-style
// groups, dataspace versions 1 and 2, contiguous, compact and chunked layouts
// (layout message versions 1 to 3 with a version 1 B-tree chunk index, version 4
// with a single-chunk index), the deflate, shuffle and Fletcher-32 filters, and
// fixed-length and variable-length strings. Attributes, soft and external links
// are skipped; anything else the tree needs gives an error wrapping
// ErrUnsupported that names the object and the feature.
//
// Read works on the whole file in memory and checks every offset and length
// against it: a malformed file gives an error wrapping ErrFormat that names the
// object path and what was wrong, never a panic (FuzzRead checks this).
package hdf5
