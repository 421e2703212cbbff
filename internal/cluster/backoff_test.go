package cluster

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := NewBackoff(100*time.Millisecond, 500*time.Millisecond)
	var got []time.Duration
	for range 5 {
		got = append(got, b.Delay())
		b.Failed()
	}
	want := []time.Duration{100, 200, 400, 500, 500}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	b.Reset()
	if b.Delay() != 100*time.Millisecond {
		t.Fatalf("after Reset: %v", b.Delay())
	}
}

func TestIDPattern(t *testing.T) {
	for id, ok := range map[string]bool{"w1": true, "host-1.w_2:0": true, "": false, "-w": false, "a/b": false,
		"x" + string(make([]byte, 63)): false} {
		if IDPattern.MatchString(id) != ok {
			t.Errorf("%q: match %v, want %v", id, !ok, ok)
		}
	}
}
