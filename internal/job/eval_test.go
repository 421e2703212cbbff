package job

import (
	"reflect"
	"slices"
	"testing"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
)

// byteForm returns s (float form, values in [0,1]) quantised to bytes: the
// byte form of an image set, with the value of byte b = b/255.
func byteForm(s *dataset.Set) *dataset.Set {
	q := *s
	q.X = nil
	q.Pix = make([]uint8, len(s.X))
	for i, v := range s.X {
		q.Pix[i] = uint8(min(max(v, 0), 1)*255 + 0.5)
	}
	q.Levels = make([][256]float32, s.C)
	for c := range q.Levels {
		for b := range q.Levels[c] {
			q.Levels[c][b] = float32(b) / 255
		}
	}
	return &q
}

// Evaluating a chunk at a time gives engine.Evaluate's result on the whole
// set, bit for bit, in both forms of a data set.
func TestEvaluateChunks(t *testing.T) {
	j := synthJob()
	cfg := dataset.DefaultSyntheticConfig()
	cfg.N = 300
	for _, s := range []*dataset.Set{dataset.Synthetic(cfg), byteForm(dataset.Synthetic(cfg))} {
		if err := s.Check(); err != nil {
			t.Fatal(err)
		}
		net, err := j.Net(InputShape(s))
		if err != nil {
			t.Fatal(err)
		}
		m := engine.NewModel(net, 7)
		wss := Workspaces(net, 2)
		whole, err := engine.Evaluate(m, MakeBatch(s, All(s.Len())), j.Seed, wss)
		if err != nil {
			t.Fatal(err)
		}
		if whole.Samples != s.Len() {
			t.Fatalf("%d samples evaluated, want %d", whole.Samples, s.Len())
		}
		for _, chunk := range []int{1, 7, 128, evalChunk} {
			got, err := evaluate(m, s, j.Seed, wss, chunk)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, whole) {
				t.Errorf("byte form %v, chunks of %d: %+v, want the whole set's %+v", s.Bytes(), chunk, got, whole)
			}
		}
	}
}

// A byte-form set decodes every sample through its channel's Levels table,
// and its Subset stays in byte form with the same values.
func TestByteFormSample(t *testing.T) {
	cfg := dataset.DefaultSyntheticConfig()
	cfg.N, cfg.C = 20, 3
	s := byteForm(dataset.Synthetic(cfg))
	for c := range s.Levels {
		for b := range s.Levels[c] {
			s.Levels[c][b] = float32(b)/255*float32(c+1) - float32(c)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	plane := s.H * s.W
	for i := range s.Len() {
		x := s.Sample(i)
		for k, v := range x {
			c := k / plane % s.C
			if want := s.Levels[c][s.Pix[i*s.SampleSize()+k]]; v != want {
				t.Fatalf("sample %d value %d (channel %d) = %v, want %v", i, k, c, v, want)
			}
		}
	}
	sub := s.Subset([]int{4, 2})
	if !sub.Bytes() || !slices.Equal(sub.Sample(0), s.Sample(4)) || !slices.Equal(sub.Sample(1), s.Sample(2)) {
		t.Fatal("Subset of a byte-form set: not the same samples in byte form")
	}
	bad := *s
	bad.Levels = bad.Levels[:1]
	if err := bad.Check(); err == nil {
		t.Fatal("Check accepted 1 Levels table for 3 channels")
	}
}
