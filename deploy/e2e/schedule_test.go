package e2e

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	got, err := ParseSchedule(" 5 w2 disconnect 20s; +0 w2 in-ring ;+5 w1 kill; +10 coordinator restart; ")
	if err != nil {
		t.Fatal(err)
	}
	want := Schedule{
		{Step: 5, Node: "w2", Action: Disconnect, Duration: 20 * time.Second},
		{Step: 0, After: true, Node: "w2", Action: InRing},
		{Step: 5, After: true, Node: "w1", Action: Kill},
		{Step: 10, After: true, Node: "coordinator", Action: Restart},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	if s := got.String(); s != "5 w2 disconnect 20s; +0 w2 in-ring; +5 w1 kill; +10 coordinator restart" {
		t.Fatalf("String() = %q", s)
	}
	again, err := ParseSchedule(got.String())
	if err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("the String form does not parse back: %v, %#v", err, again)
	}
	if due := got[0].Due(100); due != 5 {
		t.Errorf("absolute entry due at %d, want 5", due)
	}
	if due := got[2].Due(40); due != 45 {
		t.Errorf("+5 after step 40 due at %d, want 45", due)
	}
}

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "no entries"},
		{"5 w1", "want STEP NODE ACTION"},
		{"x w1 kill", `step "x"`},
		{"-3 w1 kill", `step "-3"`},
		{"++3 w1 kill", `step "++3"`},
		{"3 worker1 kill", `node "worker1"`},
		{"3 w0 kill", `node "w0"`},
		{"3 w1 explode", `action "explode"`},
		{"3 coordinator kill", "kill applies to a worker"},
		{"3 w1 restart", "restart applies to the coordinator"},
		{"3 w1 disconnect", "needs a duration"},
		{"3 w1 disconnect soon", `duration "soon"`},
		{"3 w1 disconnect -2s", `duration "-2s"`},
		{"3 w1 kill 2s", "only disconnect takes a duration"},
		{"3 w1 kill; 4 w2", `"4 w2": want STEP NODE ACTION`},
	}
	for _, tc := range tests {
		_, err := ParseSchedule(tc.in)
		if !errors.Is(err, ErrSchedule) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSchedule(%q): %v, want ErrSchedule saying %q", tc.in, err, tc.want)
		}
	}
}

func TestWorkerIndex(t *testing.T) {
	for node, want := range map[string]int{"w1": 1, "w12": 12, "w0": 0, "w": 0, "coordinator": 0, "w1x": 0, "x1": 0} {
		if got := WorkerIndex(node); got != want {
			t.Errorf("WorkerIndex(%q) = %d, want %d", node, got, want)
		}
	}
}
