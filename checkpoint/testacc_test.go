package checkpoint

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// A test accuracy measured after the save is recorded under the same id, the
// rest of the state comes back bitwise, and retention then counts it.
func TestSetTestAccuracy(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "asf.db"), nil)
	var ids []uint64
	var states []*State
	for i, acc := range []float64{0.91, 0.0, 0.93} {
		st := makeState("job", 7, 100*(i+1), 0)
		st.Metrics.TestAcc, st.Metrics.HasTest = acc, acc > 0
		id, err := s.Save(st)
		if err != nil {
			t.Fatal(err)
		}
		ids, states = append(ids, id), append(states, st)
	}
	if err := s.SetTestAccuracy("job", ids[1], 0.99); err != nil {
		t.Fatal(err)
	}
	want := *states[1]
	want.Metrics.TestAcc, want.Metrics.HasTest = 0.99, true
	got, in, err := s.Load("job", ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := diffState(&want, got); err != nil {
		t.Fatalf("after SetTestAccuracy: %v", err)
	}
	if in.ID != ids[1] || !in.Metrics.HasTest || in.Metrics.TestAcc != 0.99 {
		t.Fatalf("index entry %+v", in)
	}
	res, err := s.Verify("job")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.OK() {
			t.Fatalf("checkpoint %d does not verify: %v", r.ID, r.Err)
		}
	}
	// Keep the newest and the best: the best is now the middle one.
	deleted, err := s.Prune("job", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []uint64{ids[0]}) {
		t.Fatalf("pruned %v, want %v", deleted, ids[:1])
	}
}

func TestSetTestAccuracyErrors(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "asf.db"), nil)
	id, err := s.Save(makeState("job", 1, 10, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		job  string
		id   uint64
		acc  float64
		want error
	}{
		{"unknown job", "other", id, 0.5, ErrJobNotFound},
		{"unknown checkpoint", "job", id + 5, 0.5, ErrNotFound},
		{"NaN", "job", id, math.NaN(), nil},
		{"above 1", "job", id, 1.5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.SetTestAccuracy(tc.job, tc.id, tc.acc)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	// Nothing changed.
	_, in, err := s.Load("job", id)
	if err != nil {
		t.Fatal(err)
	}
	if in.Metrics.TestAcc == 0.5 || in.Metrics.TestAcc > 1 {
		t.Fatalf("metrics changed: %+v", in.Metrics)
	}
}
