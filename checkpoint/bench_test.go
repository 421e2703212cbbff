package checkpoint

import (
	"bytes"
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
