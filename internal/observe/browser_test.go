package observe_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/observe"
	"github.com/asfnet/asf/worker"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium or Chrome binary, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// pageState is what the test reads from the page.
type pageState struct {
	Step    int      `json:"step"`
	Members []string `json:"members"`
	Phase   string   `json:"phase"`
}

const readPage = `({
	step: parseInt(document.getElementById("step").textContent, 10) || 0,
	members: [...document.querySelectorAll("#members tbody tr[data-id]")].map((r) => r.dataset.id),
	phase: document.getElementById("phase").textContent,
})`

// The dashboard, loaded in headless Chromium against a running in-process
// cluster, shows both workers and a step count that rises; a screenshot is
// saved to $ASF_SCREENSHOT_DIR (or the test's temporary directory).
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser and a cluster; skipped with -short")
	}
	bin := chromium()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium binary on PATH, and CI is set (.ci/run installs Debian's chromium)")
		}
		t.Skip("no chromium binary on PATH (apt-get install chromium); the browser test needs one")
	}
	j := job.Default()
	j.ID = "dashboard-test"
	j.Dataset = "synthetic"
	j.Spec = "8C3-P2-10FC"
	j.Neuron.T = 4
	j.Epochs = 4
	j.Batch, j.Micro = 16, 8
	j.TrainSize, j.TestSize = 320, 32
	cc := coordinator.DefaultConfig(j)
	cc.DataDir = t.TempDir()
	cc.StartWorkers = 2
	cc.CheckpointEvery = 10
	cc.FinishGrace = 100 * time.Millisecond
	// Paced so that the page sees the job in progress (80 steps, ~5 s), and
	// held after step 3 until the page has shown the members, however slowly
	// the browser starts.
	seen := make(chan struct{})
	var seenOnce sync.Once
	release := func() { seenOnce.Do(func() { close(seen) }) }
	cc.Hooks.AfterCommit = func(steps int, _ []string) {
		if steps >= 3 {
			select {
			case <-seen:
			case <-time.After(time.Minute):
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The browser first: it takes seconds to start.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 1100))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	cl, err := inproc.Start(ctx, inproc.Config{Coordinator: cc, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { _, err := cl.Run(); runDone <- err }()
	defer func() {
		release() // a failing test must not leave the coordinator held
		cl.Stop()
		<-runDone
	}()
	hs, err := observe.Start(ctx, observe.DefaultConfig("127.0.0.1:0"), observe.Node{Coordinator: cl.Coordinator,
		Workers: func() []worker.Stats {
			var st []worker.Stats
			for _, n := range cl.Workers() {
				st = append(st, n.W.Stats())
			}
			return st
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()

	if err := chromedp.Do(bctx, chromedp.Navigate(hs.URL())); err != nil {
		t.Fatalf("loading %s in %s: %v", hs.URL(), bin, err)
	}
	read := func() pageState {
		t.Helper()
		st, err := chromedp.Run(bctx, chromedp.Evaluate[pageState](readPage))
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return st
	}
	// waitFor polls the page until ok, or fails after a while.
	waitFor := func(what string, ok func(pageState) bool) pageState {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := read()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s; last seen %+v", what, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	first := waitFor("both workers and a step", func(s pageState) bool {
		return s.Step > 0 && slices.Contains(s.Members, "w0") && slices.Contains(s.Members, "w1")
	})
	release()
	total := j.Epochs * j.TrainSize / j.Batch
	if first.Step >= total {
		t.Fatalf("the job was over (step %d of %d) before the page could watch it", first.Step, total)
	}
	later := waitFor("a rising step count", func(s pageState) bool { return s.Step > first.Step })
	t.Logf("the page showed step %d, then %d (phase %s), members %v", first.Step, later.Step, later.Phase, later.Members)
	// Let an epoch finish so that the curves, epochs and checkpoints have
	// something to show in the screenshot.
	waitFor("a finished epoch", func(s pageState) bool { return s.Step >= total/2 })

	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("ASF_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
