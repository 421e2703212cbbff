package observe

// The coordinator's web dashboard: one page (HTML, JavaScript and CSS in
// static/, embedded in the binary, no build step, no network access needed)
// that polls /api/state, a JSON copy of coordinator.Observe, and draws the
// members and ring with each worker's step time (stragglers highlighted), the
// generation history, loss, accuracy and throughput curves, and the
// checkpoints.

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"

	"github.com/asfnet/asf/coordinator"
)

// maxPoints is the most step points /api/state returns: a longer history is
// thinned evenly (the newest point is always kept).
const maxPoints = 600

//go:embed static
var static embed.FS

// dashboard serves the dashboard at "/", its files under "/static/", and the
// state at "/api/state" (also "/api/status"), read from snap at each request.
func dashboard(snap func() coordinator.Snapshot) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil { // the embedded tree is part of the binary
		panic(err)
	}
	mux := http.NewServeMux()
	files := http.FileServerFS(sub)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, sub, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	state := func(w http.ResponseWriter, _ *http.Request) {
		s := snap()
		s.Steps = thin(s.Steps, maxPoints)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		if err := enc.Encode(s); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
	mux.HandleFunc("GET /api/state", state)
	mux.HandleFunc("GET /api/status", state)
	return mux
}

// thin returns at most n of ps, evenly spaced, always with the last one.
func thin[T any](ps []T, n int) []T {
	if len(ps) <= n || n < 2 {
		return ps
	}
	out := make([]T, 0, n)
	for i := range n - 1 {
		out = append(out, ps[i*(len(ps)-1)/(n-1)])
	}
	return append(out, ps[len(ps)-1])
}
