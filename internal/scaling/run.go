// Package scaling measures how asf scales out: it runs the real
// asf-coordinator and asf-worker binaries on an emulated cluster
// (internal/emucluster: a network namespace, a CPU quota and a shaped link per
// node), reads the nodes' Prometheus metrics and cgroup counters while they
// train, and splits each configuration's step time into compute, all-reduce
// and waiting. A performance model (model.go) fitted to the measured points
// predicts clusters the host cannot emulate.
package scaling

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asfnet/asf/internal/emucluster"
	"github.com/asfnet/asf/internal/job"
)

// Errors of a run.
var (
	// ErrInvalid reports a configuration field out of range.
	ErrInvalid = errors.New("scaling: invalid configuration")
	// ErrRun reports a run that did not finish as expected (a node exited, a
	// metric is missing, the job took too long).
	ErrRun = errors.New("scaling: run failed")
)

// Ports the nodes listen on, each on its own address.
const (
	coordGRPC   = 7070
	coordGossip = 7946
	coordHTTP   = 8080
	workerGRPC  = 7071
	workerGoss  = 7947
	workerHTTP  = 8081
)

// pollEvery is how often the coordinator's progress is read.
const pollEvery = 20 * time.Millisecond

// RunConfig is one configuration of the emulated cluster and its job.
type RunConfig struct {
	// Workers is the ring size W.
	Workers int
	// CPUs is each worker's CPU quota in cores (0: none).
	CPUs float64
	// LinkBits is each node's link rate in bit/s (0: unshaped).
	LinkBits int64
	// Job is the training job; TrainSize, Epochs and ID are set by Run from
	// Steps and WarmSteps.
	Job job.Job
	// SyncMode is gradient or weights (local SGD); LocalSteps is the number of
	// local steps between weight averages in weights mode.
	SyncMode   string
	LocalSteps int
	// WarmSteps are run before the measurement starts (data loading, first
	// connections); Steps are measured. Both count training steps of the
	// global batch.
	WarmSteps, Steps int
	// Threads is each worker's number of compute goroutines.
	Threads int
	// NoComputeAhead runs the workers with --compute-ahead=false: each step's
	// compute waits for its instruction.
	NoComputeAhead bool `json:",omitempty"`
	// Pprof starts the workers with --pprof: their /debug/pprof/ on the
	// metrics address, for profiling a run from inside its namespace.
	Pprof bool `json:",omitempty"`
	// Sysctls are set in every node's network namespace
	// (emucluster.Config.Sysctls).
	Sysctls map[string]string `json:",omitempty"`
	// BinDir holds asf-coordinator and asf-worker.
	BinDir string
	// DataDir holds the data sets (read by every node).
	DataDir string
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Logger receives progress (nil: discard); the nodes' logs go to LogDir
	// when it is set.
	Logger *slog.Logger `json:"-"`
	LogDir string       `json:"-"`
}

// DefaultRunConfig returns two workers of 0.45 cores on 1 Gbit/s links
// training LeNet on MNIST at batch 256 in gradient mode.
func DefaultRunConfig() RunConfig {
	j := job.Default()
	j.Batch = 256 // large enough that compute dominates on 1 Gbit/s
	return RunConfig{
		Workers:    2,                // the smallest ring
		CPUs:       0.45,             // below a core each: W=4 still fits a 2-core host
		LinkBits:   1e9,              // 1 Gbit/s Ethernet
		Job:        j,                // the reference MNIST job
		SyncMode:   "gradient",       // the exact mode: bitwise independent of W
		LocalSteps: 4,                // the coordinator's default averaging period
		WarmSteps:  2,                // loading and first connections stay out of the figures
		Steps:      8,                // enough for a mean within a few percent
		Threads:    1,                // a quota under one core gains nothing from more
		DataDir:    "asf-data",       // the CLI's default data directory
		Timeout:    20 * time.Minute, // a slow host at W=1, batch 1024
	}
}

// Validate reports the first field out of range.
func (c RunConfig) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Workers < 1 || c.Workers > 64:
		return bad("Workers", "want 1..64, got %d", c.Workers)
	case c.SyncMode != "gradient" && c.SyncMode != "weights":
		return bad("SyncMode", "want gradient or weights, got %q", c.SyncMode)
	case c.SyncMode == "weights" && c.LocalSteps < 1:
		return bad("LocalSteps", "want at least 1 in weights mode, got %d", c.LocalSteps)
	case c.Steps < 1 || c.WarmSteps < 1:
		return bad("Steps", "want at least one warm-up and one measured step, got %d and %d", c.WarmSteps, c.Steps)
	case c.Threads < 1:
		return bad("Threads", "want at least 1, got %d", c.Threads)
	case c.Job.Batch < 1 || c.Job.Micro < 1 || c.Job.Batch%c.Job.Micro != 0:
		return bad("Job.Batch", "want a positive multiple of the micro-batch %d, got %d", c.Job.Micro, c.Job.Batch)
	case c.Job.Batch/c.Job.Micro < c.Workers:
		return bad("Workers", "%d workers but only %d micro-batches of %d in a batch of %d: some would idle", c.Workers, c.Job.Batch/c.Job.Micro, c.Job.Micro, c.Job.Batch)
	case c.Timeout <= 0:
		return bad("Timeout", "want a positive duration, got %s", c.Timeout)
	}
	if c.SyncMode == "weights" && (c.WarmSteps%c.LocalSteps != 0 || c.Steps%c.LocalSteps != 0) {
		return bad("Steps", "in weights mode the warm-up (%d) and measured steps (%d) must be multiples of LocalSteps %d", c.WarmSteps, c.Steps, c.LocalSteps)
	}
	for _, b := range []string{"asf-coordinator", "asf-worker"} {
		if _, err := os.Stat(filepath.Join(c.BinDir, b)); err != nil {
			return bad("BinDir", "%s: %v", b, err)
		}
	}
	return c.emu().Validate()
}

// emu is the emulated cluster of c.
func (c RunConfig) emu() emucluster.Config {
	ec := emucluster.DefaultConfig()
	ec.Workers, ec.WorkerCPUs, ec.LinkBits, ec.Sysctls = c.Workers, c.CPUs, c.LinkBits, c.Sysctls
	return ec
}

// WorkerTimes are one worker's means over the measured steps.
type WorkerTimes struct {
	ID string
	// Step, Compute, Reduce and Update are the worker's own step,
	// computation, all-reduce and update times per step (its metrics; a
	// worker that computes ahead starts a step's time with that compute,
	// before the step's instruction came).
	Step, Compute, Reduce, Update time.Duration
	// PayloadBytes is what the worker's all-reduce sent per step (the
	// elements' encoding); WireBytes is what its link carried per step in each
	// direction's larger one (Ethernet frames: gRPC, HTTP/2, TCP/IP headers,
	// gossip and coordinator traffic included).
	PayloadBytes, WireBytes float64
	// CPU is the CPU time per step of the worker's process (cgroup); Throttled
	// the fraction of quota periods in which the quota stopped it.
	CPU       time.Duration
	Throttled float64
}

// Point is the measurement of one configuration.
type Point struct {
	Config RunConfig
	// Steps measured (training steps between the snapshots) and their wall
	// time.
	Steps int
	Wall  time.Duration
	// SamplesPerSec is the global throughput over the measured steps.
	SamplesPerSec float64
	// StepTime is the wall time per step; Compute and Reduce are the workers'
	// means, and Wait what is left (StepTime - Compute - Reduce): the
	// coordinator's round trip, state syncs, the worker loop. Reduce includes
	// waiting inside the ring for a slower neighbour; ReduceMin is the fastest
	// worker's, the closest to the transfer itself.
	StepTime, Compute, Reduce, Wait, ReduceMin time.Duration
	// Wait is Update + Coord: Update is the workers' own rest of a step (the
	// optimizer step, the weights digest, copying the state: the worker's step
	// time minus compute and all-reduce), Coord the rest of the wall time (the
	// coordinator's round trip: reports, the commit, the next task).
	Update, Coord time.Duration
	// PayloadBytes and WireBytes are per worker and step (means).
	PayloadBytes, WireBytes float64
	// CPU is a worker's CPU time per step (mean); Throttled the mean fraction
	// of throttled quota periods.
	CPU       time.Duration
	Throttled float64
	Workers   []WorkerTimes
	// Digest is the final weights' SHA-256 as the coordinator printed it;
	// EngineDigest the engine alone's on the same job (when checked).
	Digest, EngineDigest string
	// Load is the host's 1-minute load average at the start and the end.
	Load [2]float64
	// Runs are the throughputs of every repetition of the configuration when
	// it was measured more than once (Median chose this point among them).
	Runs []float64 `json:",omitempty"`
}

// Median returns the point of median throughput among repetitions of one
// configuration, with Runs set to all their throughputs in order.
func Median(ps []Point) Point {
	if len(ps) == 0 {
		return Point{}
	}
	sorted := slices.Clone(ps)
	slices.SortFunc(sorted, func(a, b Point) int { return cmp.Compare(a.SamplesPerSec, b.SamplesPerSec) })
	m := sorted[(len(sorted)-1)/2]
	m.Runs = nil
	for _, p := range ps {
		m.Runs = append(m.Runs, p.SamplesPerSec)
	}
	return m
}

// Run builds the cluster of cfg, trains the job on it, measures, and removes
// the cluster.
func Run(ctx context.Context, cfg RunConfig) (Point, error) {
	if err := cfg.Validate(); err != nil {
		return Point{}, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	p := Point{Config: cfg}
	p.Load[0] = LoadAverage()

	ec := cfg.emu()
	ec.Logger = log
	cl, err := emucluster.Create(ctx, ec)
	if err != nil {
		return p, err
	}
	defer cl.Close()

	tmp, err := os.MkdirTemp("", "asf-scaling-")
	if err != nil {
		return p, err
	}
	defer os.RemoveAll(tmp)
	j := cfg.Job
	j.Epochs = 1
	j.TrainSize = (cfg.WarmSteps + cfg.Steps) * j.Batch
	j.ID = fmt.Sprintf("scaling-w%d-b%d-%s", cfg.Workers, j.Batch, cfg.SyncMode)
	jobFile := filepath.Join(tmp, "job.json")
	if err := os.WriteFile(jobFile, j.JSON(), 0o644); err != nil {
		return p, err
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return p, err
	}
	coord, _ := cl.Node("coord")
	ca := func(port int) string { return netip.AddrPortFrom(coord.Addr, uint16(port)).String() }
	total := cfg.WarmSteps + cfg.Steps
	units := total
	if cfg.SyncMode == "weights" {
		units = total / cfg.LocalSteps
	}

	var coordOut syncBuffer
	var logs []*os.File
	defer func() {
		cl.Close() // the processes first, then their log files
		for _, f := range logs {
			f.Close()
		}
	}()
	start := func(node string, out io.Writer, prog string, args ...string) (*exec.Cmd, error) {
		cmd, err := cl.Command(ctx, node, filepath.Join(cfg.BinDir, prog), args...)
		if err != nil {
			return nil, err
		}
		cmd.Stdout = out
		if cfg.LogDir != "" {
			f, err := os.Create(filepath.Join(cfg.LogDir, fmt.Sprintf("%s-%s-%s.log", j.ID, emucluster.FormatRate(cfg.LinkBits), node)))
			if err != nil {
				return nil, err
			}
			logs = append(logs, f)
			cmd.Stderr = f
			if out == nil {
				cmd.Stdout = f
			} else {
				cmd.Stdout = io.MultiWriter(out, f)
			}
		}
		return cmd, cl.Start(cmd)
	}
	exited := make(chan string, cfg.Workers+1)
	watch := func(name string, cmd *exec.Cmd) {
		go func() {
			err := cmd.Wait()
			exited <- fmt.Sprintf("%s exited (%v)", name, err)
		}()
	}
	cc, err := start("coord", &coordOut, "asf-coordinator", "--job-file", jobFile, "--data-dir", dataDir,
		"--store", filepath.Join(tmp, "asf.db"), "--listen", ca(coordGRPC), "--gossip-bind", ca(coordGossip),
		"--http", ca(coordHTTP), "--start-workers", strconv.Itoa(cfg.Workers), "--min-workers", strconv.Itoa(cfg.Workers),
		"--no-test", "--checkpoint-every", strconv.Itoa(10*units+1000), "--sync-mode", cfg.SyncMode,
		"--local-steps", strconv.Itoa(cfg.LocalSteps), "--step-deadline", "10m", "--linger", "--log-level", "warn")
	if err != nil {
		return p, err
	}
	watch("coordinator", cc)
	workers := cl.Nodes()[1:]
	for _, w := range workers {
		wa := func(port int) string { return netip.AddrPortFrom(w.Addr, uint16(port)).String() }
		wc, err := start(w.Name, nil, "asf-worker", "--worker-id", w.Name, "--join", ca(coordGossip),
			"--coordinator", ca(coordGRPC), "--listen", wa(workerGRPC), "--gossip-bind", wa(workerGoss),
			"--http", wa(workerHTTP), "--data-dir", dataDir, "--threads", strconv.Itoa(cfg.Threads),
			"--compute-ahead="+strconv.FormatBool(!cfg.NoComputeAhead), "--pprof="+strconv.FormatBool(cfg.Pprof),
			"--linger", "--log-level", "warn")
		if err != nil {
			return p, err
		}
		watch(w.Name, wc)
	}

	// Poll the coordinator's progress; take the workers' counters when the
	// warm-up is done and when the last step is committed.
	coordMetrics := func() (map[string]float64, error) {
		return scrape(ctx, cl, "coord", "http://"+ca(coordHTTP)+"/metrics")
	}
	type snap struct {
		at      []time.Time
		metrics []map[string]float64
		usage   []emucluster.Usage
	}
	take := func() (snap, error) {
		var s snap
		for _, w := range workers {
			s.at = append(s.at, time.Now())
			m, err := scrape(ctx, cl, w.Name, "http://"+netip.AddrPortFrom(w.Addr, workerHTTP).String()+"/metrics")
			if err != nil {
				return s, err
			}
			u, err := cl.Usage(ctx, w.Name)
			if err != nil {
				return s, err
			}
			s.metrics, s.usage = append(s.metrics, m), append(s.usage, u)
		}
		return s, nil
	}
	var a, b snap
	haveA := false
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	log.Info("training", "job", j.ID, "workers", cfg.Workers, "units", units)
	for {
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("%w: %s: %w", ErrRun, j.ID, ctx.Err())
		case why := <-exited:
			return p, fmt.Errorf("%w: %s: %s before the job finished (logs: --log-dir)", ErrRun, j.ID, why)
		case <-tick.C:
		}
		m, err := coordMetrics()
		if err != nil {
			continue // not up yet
		}
		// The coordinator counts in its own units (a unit of weights mode is
		// LocalSteps steps): the warm-up is the same share of its total.
		step, total := int(m["asf_coordinator_step"]), int(m["asf_coordinator_total_steps"])
		if total <= 0 {
			continue
		}
		warm := (total*cfg.WarmSteps + cfg.WarmSteps + cfg.Steps - 1) / (cfg.WarmSteps + cfg.Steps)
		if !haveA && step >= warm {
			if a, err = take(); err != nil {
				return p, err
			}
			haveA = true
			continue
		}
		if haveA && step >= total {
			if b, err = take(); err != nil {
				return p, err
			}
			break
		}
	}
	// The coordinator prints the digest once the job is finished.
	digest := regexp.MustCompile(`weights sha256: ([0-9a-f]{64})`)
	for p.Digest == "" {
		if mm := digest.FindStringSubmatch(coordOut.String()); mm != nil {
			p.Digest = mm[1]
			break
		}
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("%w: %s: no weights digest from the coordinator: %w", ErrRun, j.ID, ctx.Err())
		case why := <-exited:
			return p, fmt.Errorf("%w: %s: %s before printing the weights digest", ErrRun, j.ID, why)
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.Load[1] = LoadAverage()

	// Counted from the workers' own counters: the snapshots are taken between
	// steps at the polling period, so the measured window is whatever steps
	// fell between them.
	per := 1.0 // training steps per unit of work
	if cfg.SyncMode == "weights" {
		per = float64(cfg.LocalSteps)
	}
	var sps float64
	for i, w := range workers {
		ma, mb := a.metrics[i], b.metrics[i]
		d := func(name string) float64 { return mb[name] - ma[name] }
		units := d("asf_worker_steps_total")
		if units <= 0 {
			return p, fmt.Errorf("%w: %s: worker %s took no step between the snapshots (steps too short for the %s polling: raise the batch or the steps)", ErrRun, j.ID, w.Name, pollEvery)
		}
		steps := units * per
		sec := func(v float64) time.Duration { return time.Duration(v / steps * 1e9) }
		ua, ub := a.usage[i], b.usage[i]
		wt := WorkerTimes{ID: w.Name,
			Step: sec(d("asf_worker_step_seconds_sum")), Compute: sec(d("asf_worker_compute_seconds_sum")),
			Reduce:       sec(d("asf_worker_allreduce_seconds_sum")),
			Update:       sec(d("asf_worker_update_seconds_sum")),
			PayloadBytes: d("asf_worker_allreduce_bytes_total") / steps,
			WireBytes:    float64(max(ub.TxBytes-ua.TxBytes, ub.RxBytes-ua.RxBytes)) / steps,
			CPU:          sec((ub.CPU - ua.CPU).Seconds()),
		}
		if n := ub.Periods - ua.Periods; n > 0 {
			wt.Throttled = float64(ub.ThrottledPeriods-ua.ThrottledPeriods) / float64(n)
		}
		p.Workers = append(p.Workers, wt)
		wall := b.at[i].Sub(a.at[i])
		sps += d("asf_worker_samples_total") / wall.Seconds() / float64(len(workers))
		p.Steps = max(p.Steps, int(math.Round(steps)))
		p.Wall = max(p.Wall, wall)
	}
	p.SamplesPerSec = sps
	p.StepTime = time.Duration(float64(p.Config.Job.Batch) / sps * 1e9)
	n := time.Duration(len(p.Workers))
	p.ReduceMin = time.Duration(math.MaxInt64)
	for _, w := range p.Workers {
		p.Compute += w.Compute / n
		p.Reduce += w.Reduce / n
		p.CPU += w.CPU / n
		p.PayloadBytes += w.PayloadBytes / float64(n)
		p.WireBytes += w.WireBytes / float64(n)
		p.Throttled += w.Throttled / float64(n)
		p.ReduceMin = min(p.ReduceMin, w.Reduce)
	}
	p.Wait = max(p.StepTime-p.Compute-p.Reduce, 0)
	var step, update time.Duration
	for _, w := range p.Workers {
		step += w.Step / n
		update += w.Update / n
	}
	if update == 0 { // a worker without the update metric: its step time's rest
		update = max(step-p.Compute-p.Reduce, 0)
	}
	p.Update = update
	// What compute, all-reduce and update leave of the wall time: the
	// coordinator's round trip, unless the workers compute ahead through it.
	p.Coord = max(p.StepTime-p.Compute-p.Reduce-p.Update, 0)
	log.Info("measured", "job", j.ID, "samples/s", p.SamplesPerSec, "step", p.StepTime, "compute", p.Compute, "reduce", p.Reduce)
	return p, nil
}

// scrape fetches a Prometheus text page from inside node and returns its
// series by name (labels dropped; the page of one worker has one series per
// name).
func scrape(ctx context.Context, cl *emucluster.Cluster, node, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := newGet(ctx, url)
	if err != nil {
		return nil, err
	}
	resp, err := cl.HTTPClient(node, 5*time.Second).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%w: GET %s: %s", ErrRun, url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func newGet(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}

// parseMetrics reads the Prometheus text format: one `name{labels} value`
// per line, comments skipped.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("%w: metrics line %q: want `name value`", ErrRun, line)
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%w: metrics line %q: value: %v", ErrRun, line, err)
		}
		out[name] += v
	}
	return out, sc.Err()
}

// LoadAverage returns the host's 1-minute load average (0 if unknown).
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
