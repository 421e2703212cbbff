package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildStore writes a store with every page kind: a job, checkpoints large
// enough for overflow pages, enough metric points for branch pages, and
// deletions (retention) for a freelist with free pages.
func buildStore(t testing.TB, path string) {
	t.Helper()
	o := DefaultOptions()
	s, err := Open(path, &o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutJob("sweep", []byte(`{"id":"sweep","lr":0.01}`)); err != nil {
		t.Fatal(err)
	}
	for step := 1; step <= 5; step++ {
		if _, err := s.Save(makeState("sweep", 7, step*10, 2)); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 60; i += 10 { // 10 points a transaction, as a coordinator batches them
			var ps []MetricPoint
			for k := i; k < i+10; k++ {
				ps = append(ps, MetricPoint{Job: "sweep", Kind: "step", Epoch: step, Step: step*10 + k, Time: time.Unix(int64(k), 0).UTC(), Loss: 0.5, Acc: 0.9, Workers: 2})
			}
			if err := s.AppendMetrics(ps...); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestInspectSoundStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "asf.db")
	buildStore(t, path)
	rep, err := Inspect(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Damaged() {
		t.Fatalf("a sound store: %v", rep.Err())
	}
	if len(rep.Checkpoints) != 3 || rep.Metrics != 300 || !slices.Equal(rep.Jobs, []string{"sweep"}) {
		t.Fatalf("report %d checkpoints, %d metrics, jobs %v; want 3, 300, [sweep]", len(rep.Checkpoints), rep.Metrics, rep.Jobs)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int64{}
	for _, r := range inspectBytes(path, data, true).regions {
		kinds[r.kind] += r.n
	}
	for _, k := range []string{KindMeta, KindFreelist, KindBranch, KindLeaf, KindRecord, KindData, KindOverflow, KindMetrics, KindFree} {
		if kinds[k] == 0 {
			t.Errorf("no bytes of kind %q in the map (%v)", k, kinds)
		}
	}
	// A sound file repairs to nothing and is left alone.
	before := fileDigest(t, path)
	if r, err := Repair(path, nil); err != nil || r != nil {
		t.Fatalf("Repair of a sound store: %+v, %v", r, err)
	}
	if fileDigest(t, path) != before {
		t.Fatal("Repair changed a sound store")
	}
}

// flipOffsets picks n offsets of each kind of byte in the map, spread evenly.
func flipOffsets(regions []region, perKind int, seed uint64) map[string][]int64 {
	byKind := map[string][]region{}
	total := map[string]int64{}
	for _, r := range regions {
		byKind[r.kind] = append(byKind[r.kind], r)
		total[r.kind] += r.n
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	out := map[string][]int64{}
	for k, rs := range byKind {
		for i := range perKind {
			// the i-th of perKind evenly spaced positions, jittered within its stride
			stride := max(1, total[k]/int64(perKind))
			pos := int64(i)*stride + rng.Int64N(stride)
			if pos >= total[k] {
				continue
			}
			for _, r := range rs {
				if pos < r.n {
					out[k] = append(out[k], r.off+pos)
					break
				}
				pos -= r.n
			}
		}
	}
	return out
}

// flipMask is the change made at the i-th offset: single bits, and whole bytes.
func flipMask(i int) byte {
	if i%3 == 2 {
		return 0xff
	}
	return 1 << (i % 8)
}

// Every single-byte change of a store, in every kind of page, is found by
// Inspect or harmless to bbolt; Open with Recover always gives a store that
// works (saves, appends, closes) and inspects sound afterwards, and keeps the
// newest checkpoint that verifies.
func TestRecoverFromFlippedBytes(t *testing.T) {
	dir := t.TempDir()
	pristine := filepath.Join(dir, "pristine.db")
	buildStore(t, pristine)
	data, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	perKind := 3
	if os.Getenv("ASF_SWEEP") != "" {
		perKind = 60
	}
	offsets := flipOffsets(inspectBytes(pristine, data, true).regions, perKind, 1)
	counts := map[string][3]int{} // found, harmless, salvaged
	i := 0
	for _, kind := range slices.Sorted(func(yield func(string) bool) {
		for k := range offsets {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, off := range offsets[kind] {
			i++
			name := fmt.Sprintf("%s@%d^%02x", kind, off, flipMask(i))
			bad := slices.Clone(data)
			bad[off] ^= flipMask(i)
			path := filepath.Join(dir, fmt.Sprintf("case%d.db", i))
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := Inspect(path, nil)
			if err != nil {
				t.Fatalf("%s: Inspect: %v", name, err)
			}
			o := DefaultOptions()
			o.Recover = true
			s, err := Open(path, &o)
			if err != nil {
				t.Fatalf("%s: Open with Recover: %v (inspect: %v)", name, err, rep.Err())
			}
			c := counts[kind]
			switch {
			case s.Salvaged() != nil:
				c[2]++
			case rep.Damaged():
				t.Fatalf("%s: Inspect found %v but Open did not salvage", name, rep.Err())
			default:
				c[1]++
			}
			counts[kind] = c
			_, in, lerr := s.Latest("sweep")
			if lerr != nil && !errors.Is(lerr, ErrNoCheckpoint) && !errors.Is(lerr, ErrJobNotFound) {
				t.Fatalf("%s: Latest: %v", name, lerr)
			}
			if lerr == nil && in.Step < 30 {
				t.Errorf("%s: continues from step %d; a single byte can cost at most the newest checkpoint (step 50, then 40, 30)", name, in.Step)
			}
			if _, err := s.Save(makeState("sweep", 7, 60, 2)); err != nil {
				t.Fatalf("%s: Save after recovery: %v", name, err)
			}
			if err := s.AppendMetrics(MetricPoint{Job: "sweep", Kind: "step", Step: 61}); err != nil {
				t.Fatalf("%s: AppendMetrics after recovery: %v", name, err)
			}
			if _, err := s.Metrics("sweep"); err != nil {
				t.Fatalf("%s: Metrics after recovery: %v", name, err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("%s: Close: %v", name, err)
			}
			after, err := Inspect(path, nil)
			if err != nil || after.Damaged() {
				t.Fatalf("%s: after recovery and a save the store is not sound: %v %v", name, err, after.Err())
			}
			if s.Salvaged() != nil {
				if _, err := os.Stat(s.Salvaged().Damaged); err != nil {
					t.Fatalf("%s: the damaged file was not kept: %v", name, err)
				}
				if !strings.HasPrefix(filepath.Base(s.Salvaged().Damaged), "case") {
					t.Fatalf("%s: damaged file set aside as %s", name, s.Salvaged().Damaged)
				}
			}
		}
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Logf("%-16s %3d offsets: %3d salvaged, %3d harmless", k, counts[k][1]+counts[k][2], counts[k][2], counts[k][1])
	}
}

// bbolt trusts its pages: on a broken page it panics or faults. The store's
// boundary turns both into ErrDamaged naming the file, and the Store then
// refuses further work instead of touching the broken state again.
func TestGuardTurnsBboltPanicsIntoErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint16 // leaf page flags to write, or 0
		count uint16 // leaf element count to write, or 0
	}{
		{"page flags", 0xfd, 0},
		{"element count", 0, 0xffff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "asf.db")
			buildStore(t, path)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			img := inspectBytes(path, data, true)
			var leaf int64 = -1
			for _, r := range img.regions { // a leaf page of the checkpoint data
				if r.kind == KindData {
					leaf = r.off / int64(img.rep.PageSize) * int64(img.rep.PageSize)
				}
			}
			if leaf < 0 {
				t.Fatal("no checkpoint data leaf")
			}
			if tc.flags != 0 {
				data[leaf+8], data[leaf+9] = byte(tc.flags), byte(tc.flags>>8)
			}
			if tc.count != 0 {
				data[leaf+10], data[leaf+11] = byte(tc.count), byte(tc.count>>8)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			var first error
			for range 3 {
				if _, err := s.Save(makeState("sweep", 7, 99, 2)); err != nil {
					first = err
					break
				}
			}
			if first == nil {
				_, _, first = s.Latest("sweep")
			}
			if !errors.Is(first, ErrDamaged) || !strings.Contains(first.Error(), path) {
				t.Fatalf("bbolt on a broken page: %v, want ErrDamaged naming %s", first, path)
			}
			if _, err := s.Jobs(); !errors.Is(err, ErrDamaged) {
				t.Fatalf("after the failure: %v, want ErrDamaged again", err)
			}
			t.Logf("first failure: %v; close: %v", first, s.Close())
		})
	}
}

// Index records, metric points and job records end with a crc32c (format 2):
// any flipped byte is caught. Records written before it (format 1, plain JSON
// job records) are still read.
func TestRecordChecksums(t *testing.T) {
	p := MetricPoint{Job: "j", Kind: "step", Epoch: 1, Step: 7, Time: time.Unix(5, 0).UTC(), Loss: 0.25, Acc: 0.5, Workers: 3, Generation: 2}
	withSums := p
	withSums.MSE, withSums.CE, withSums.Correct, withSums.Samples = 8, 9.5, 16, 32
	if got, err := decodePoint(encodePoint(&withSums), "j"); err != nil || got != withSums {
		t.Fatalf("format 3 point: %+v %v", got, err)
	}
	in := Info{ID: 3, Job: "j", Spec: "8C3-10FC", Step: 7, Size: 10, Chunks: 1, Format: StateFormat, Saved: time.Unix(9, 0).UTC()}
	v1 := func(b []byte) []byte { // the same record as format 1 wrote it: no crc, version 1
		b = slices.Clone(b[:len(b)-4])
		b[8] = 1
		return b
	}
	pv1 := func(b []byte) []byte { // a point of format 1: no sums either
		return v1(append(slices.Clone(b[:len(b)-36]), 0, 0, 0, 0))
	}
	pb, ib, jb := encodePoint(&p), encodeInfo(&in), encodeJob([]byte(`{"id":"j"}`))
	if got, err := decodePoint(pv1(pb), "j"); err != nil || got != p {
		t.Fatalf("format 1 point: %+v %v", got, err)
	}
	if got, err := decodeInfo(v1(ib), "j", 3); err != nil || got.Step != 7 || got.Spec != in.Spec {
		t.Fatalf("format 1 index record: %+v %v", got, err)
	}
	if got, err := decodeJob([]byte(`{"id":"j"}`), "j"); err != nil || string(got) != `{"id":"j"}` {
		t.Fatalf("plain JSON job record: %q %v", got, err)
	}
	for i := range pb {
		b := slices.Clone(pb)
		b[i] ^= 0x10
		if _, err := decodePoint(b, "j"); err == nil {
			t.Fatalf("point with byte %d flipped decodes", i)
		}
	}
	for i := range ib {
		b := slices.Clone(ib)
		b[i] ^= 0x10
		if _, err := decodeInfo(b, "j", 3); err == nil {
			t.Fatalf("index record with byte %d flipped decodes", i)
		}
	}
	for i := range jb {
		b := slices.Clone(jb)
		b[i] ^= 0x10
		if _, err := decodeJob(b, "j"); err == nil {
			t.Fatalf("job record with byte %d flipped decodes", i)
		}
	}
}

// The root page of the newest transaction's tree is broken: nothing is
// reachable from the meta page in use, and the salvage takes every record from
// the tree of the previous transaction (whose pages bbolt has not reused), so
// it loses at most what the last transaction wrote.
func TestSalvageFromThePreviousTransaction(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "asf.db")
	buildStore(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	use, other, ok := chooseMeta(data)
	if !ok || use.root == other.root {
		t.Fatalf("metas %+v %+v", use, other)
	}
	off := int(use.root) * int(use.pageSize)
	data[off] ^= 0x40 // the root page no longer identifies as itself
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Repair(path, nil)
	if err != nil || rep == nil {
		t.Fatalf("Repair: %+v, %v", rep, err)
	}
	if rep.Jobs != 1 || rep.Checkpoints != 3 || rep.Metrics < 290 || rep.FromOlderMeta == 0 {
		t.Fatalf("salvaged %d jobs, %d checkpoints, %d metric points (%d from the previous transaction); want 1, 3, >= 290 from it",
			rep.Jobs, rep.Checkpoints, rep.Metrics, rep.FromOlderMeta)
	}
	// The damaged bytes are kept aside as they were, the salvaged store is in
	// place, and nothing else is left in the directory.
	if aside, err := os.ReadFile(rep.Damaged); err != nil || !bytes.Equal(aside, data) {
		t.Fatalf("the damaged file set aside at %s: %v, same bytes %v", rep.Damaged, err, bytes.Equal(aside, data))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 || rep.Store != path {
		t.Fatalf("after Repair: %v, store %s; want %s and the damaged file only", ents, rep.Store, path)
	}
	s := openT(t, path, nil)
	if _, in, err := s.Latest("sweep"); err != nil || in.Step != 50 {
		t.Fatalf("Latest after the salvage: step %d, %v; want the newest checkpoint (step 50)", in.Step, err)
	}
}
