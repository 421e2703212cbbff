package checkpoint

import "os"

// SweepTargets returns, for each kind of byte in the store file at path (see
// the Kind constants), perKind offsets spread evenly over the bytes of that kind.
func SweepTargets(path string, perKind int, seed uint64) (map[string][]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return flipOffsets(inspectBytes(path, data, true).regions, perKind, seed), nil
}

// FlipMask is the change the sweeps make at their i-th offset.
func FlipMask(i int) byte { return flipMask(i) }

// BucketRoot returns the root page of the bucket at path ("checkpoints/job/data")
// in the store file's current tree, and the file's page size.
func BucketRoot(file, path string) (page uint64, pageSize int, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, err
	}
	img := inspectBytes(file, data, false)
	if img.use == nil {
		return 0, 0, img.rep.Err()
	}
	return img.use.roots[path], img.rep.PageSize, nil
}

// WhatIs names what the byte at off of the store file at path holds.
func WhatIs(path string, off int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	for _, r := range inspectBytes(path, data, true).regions {
		if off >= r.off && off < r.off+r.n {
			if r.what != "" {
				return r.kind + ": " + r.what
			}
			return r.kind
		}
	}
	return "unmapped"
}
