package faults

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testLang = Language{
	Rules: []Rule{
		{Action: "kill", Target: Worker, Delay: true},
		{Action: "disconnect", Target: Worker, Duration: true},
		{Action: "restart", Target: CoordinatorOnly},
		{Action: "stop", Target: Any},
	},
}

func TestParse(t *testing.T) {
	got, err := testLang.Parse(" 5 w2 disconnect 20s; +0 w1 kill after=3ms ;+10 coordinator restart; ")
	if err != nil {
		t.Fatal(err)
	}
	want := Schedule{
		{Step: 5, Node: "w2", Action: "disconnect", Duration: 20 * time.Second},
		{Step: 0, After: true, Node: "w1", Action: "kill", Delay: 3 * time.Millisecond},
		{Step: 10, After: true, Node: Coordinator, Action: "restart"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
	if s := got.String(); s != "5 w2 disconnect 20s; +0 w1 kill after=3ms; +10 coordinator restart" {
		t.Fatalf("String() = %q", s)
	}
	if again, err := testLang.Parse(got.String()); err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("the String form does not parse back: %v, %#v", err, again)
	}
	abs := got.Absolute()
	if abs[1].Step != 5 || abs[1].After || abs[2].Step != 15 || got[2].Step != 10 {
		t.Fatalf("Absolute: %v (from %v)", abs, got)
	}
	if s := abs.Steps(); !reflect.DeepEqual(s, []int{5, 15}) || len(abs.At(5)) != 2 {
		t.Fatalf("Steps %v, At(5) %v", s, abs.At(5))
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "no entries"},
		{"5 w1", "want STEP NODE ACTION"},
		{"x w1 kill", `step "x"`},
		{"++3 w1 kill", `step "++3"`},
		{"3 w1 explode", `action "explode": want kill, disconnect, restart or stop`},
		{"3 coordinator kill", "kill applies to a worker"},
		{"3 w1 restart", "restart applies to the coordinator"},
		{"3 w1 disconnect", "disconnect needs a duration"},
		{"3 w1 disconnect soon", `duration "soon"`},
		{"3 w1 kill 2s", "only disconnect takes a duration"},
		{"3 w1 kill after=soon", `delay "soon"`},
		{"3 w1 disconnect 2s after=1s", "disconnect takes no after=DELAY"},
		{"3 w1 disconnect 2s 3s", "one duration only"},
	} {
		_, err := testLang.Parse(tc.in)
		if !errors.Is(err, ErrSchedule) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q): %v, want ErrSchedule saying %q", tc.in, err, tc.want)
		}
	}
	if _, err := testLang.Parse("3 coordinator stop; 4 w1 stop"); err != nil {
		t.Errorf("an action for any node: %v", err)
	}
	if s, err := (Language{Empty: true}).Parse(" ; "); err != nil || len(s) != 0 {
		t.Errorf("an empty schedule where allowed: %v %v", s, err)
	}
	strict := Language{Rules: testLang.Rules, IsWorker: func(n string) bool { return strings.HasPrefix(n, "w") }, Workers: "w1, w2, ..."}
	if _, err := strict.Parse("3 node1 kill"); err == nil || !strings.Contains(err.Error(), `node "node1": want w1, w2, ... or coordinator`) {
		t.Errorf("node check: %v", err)
	}
}
