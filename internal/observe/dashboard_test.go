package observe

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/asfnet/asf/coordinator"
)

func TestDashboard(t *testing.T) {
	snap := coordinator.Snapshot{Job: "j", Step: 7, Members: []coordinator.MemberSnapshot{{ID: "w0", Rank: 0}}}
	for i := range 2 * maxPoints {
		snap.Steps = append(snap.Steps, coordinator.StepSnapshot{Step: i + 1})
	}
	srv := httptest.NewServer(dashboard(func() coordinator.Snapshot { return snap }))
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, tc := range []struct{ path, ctype, body string }{
		{"/", "text/html", `<script src="static/app.js">`},
		{"/static/app.js", "javascript", "api/state"},
		{"/static/style.css", "text/css", ".straggler"},
	} {
		resp, body := get(tc.path)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s: %d %s, want 200 %s with %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.ctype, tc.body)
		}
	}
	if resp, _ := get("/nope"); resp.StatusCode != 404 {
		t.Errorf("GET /nope: %d, want 404", resp.StatusCode)
	}
	for _, path := range []string{"/api/state", "/api/status"} {
		resp, body := get(path)
		var got coordinator.Snapshot
		if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
		}
		if got.Job != "j" || got.Step != 7 || len(got.Members) != 1 || len(got.Steps) != maxPoints || got.Steps[maxPoints-1].Step != 2*maxPoints {
			t.Errorf("GET %s: job %q step %d, %d members, %d step points ending at %d", path, got.Job, got.Step, len(got.Members),
				len(got.Steps), got.Steps[len(got.Steps)-1].Step)
		}
	}
}

func TestThin(t *testing.T) {
	seq := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = i
		}
		return s
	}
	for _, tc := range []struct {
		in   []int
		n    int
		want []int
	}{
		{seq(3), 5, seq(3)},
		{seq(10), 4, []int{0, 3, 6, 9}},
		{seq(5), 2, []int{0, 4}},
		{nil, 3, nil},
	} {
		if got := thin(tc.in, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("thin(%v, %d) = %v, want %v", tc.in, tc.n, got, tc.want)
		}
	}
}
