package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

var sinkState *State

// benchStore measures op on a store holding one crash-test state (20 MiB).
func benchStore(b *testing.B, op func(s *Store, st *State) error) {
	st := crashState(1)
	s, err := Open(filepath.Join(b.TempDir(), "asf.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(st); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(4 * crashFloats))
	for b.Loop() {
		if err := op(s, st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSave(b *testing.B) {
	benchStore(b, func(s *Store, st *State) error { _, err := s.Save(st); return err })
}

func BenchmarkLatest(b *testing.B) {
	benchStore(b, func(s *Store, _ *State) (err error) { sinkState, _, err = s.Latest("crash"); return err })
}

func BenchmarkExportSafetensors(b *testing.B) {
	var buf bytes.Buffer
	benchStore(b, func(_ *Store, st *State) error { buf.Reset(); return ExportSafetensors(st, &buf) })
}

// BenchmarkInspect is the check the coordinator runs at every start: the
// whole file read and walked, every checkpoint's sha256, on a store of three
// LeNet checkpoints (weights and Adam slots) and a metrics history.
func BenchmarkInspect(b *testing.B) {
	path := filepath.Join(b.TempDir(), "asf.db")
	s, err := Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	for step := 1; step <= 4; step++ {
		if _, err := s.Save(makeState("lenet", 1, step, 0)); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 1000 {
		if err := s.AppendMetrics(MetricPoint{Job: "lenet", Kind: "step", Step: i}); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	for b.Loop() {
		rep, err := Inspect(path, nil)
		if err != nil || rep.Damaged() {
			b.Fatal(err, rep.Err())
		}
	}
}
