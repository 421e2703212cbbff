package clustertest

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/worker"
)

// The child processes are the test binary itself, started with roleEnv set:
// TestMain calls ChildMain, which runs a coordinator or a worker configured
// from the environment.
const (
	roleEnv  = "ASF_CLUSTERTEST_ROLE"
	envJob   = "ASF_CLUSTERTEST_JOB"      // the job, JSON
	envData  = "ASF_CLUSTERTEST_DATA"     // data directory
	envStore = "ASF_CLUSTERTEST_STORE"    // checkpoint store
	envGRPC  = "ASF_CLUSTERTEST_GRPC"     // coordinator: gRPC listen address
	envGoss  = "ASF_CLUSTERTEST_GOSSIP"   // coordinator: gossip port
	envJoin  = "ASF_CLUSTERTEST_JOIN"     // worker: gossip address to join
	envID    = "ASF_CLUSTERTEST_ID"       // worker id
	envDead  = "ASF_CLUSTERTEST_DEADLINE" // coordinator: step deadline
	envOut   = "ASF_CLUSTERTEST_RESULT"   // coordinator: where to write the result (JSON)
	envStart = "ASF_CLUSTERTEST_START"    // coordinator: workers to wait for before the first generation
)

// ChildMain runs this process as the cluster node named by role; it returns
// the exit code. Tests call it from TestMain when the role variable is set.
func ChildMain(role string) int {
	var j job.Job
	if err := json.Unmarshal([]byte(os.Getenv(envJob)), &j); err != nil {
		fmt.Fprintln(os.Stderr, "clustertest child: job:", err)
		return 2
	}
	ctx := context.Background()
	log := childLogger()
	switch role {
	case "coordinator":
		if err := childCoordinator(ctx, j, log); err != nil {
			fmt.Fprintln(os.Stderr, "clustertest coordinator:", err)
			return 1
		}
	case "worker":
		wc := worker.DefaultConfig().Loopback()
		wc.ID = os.Getenv(envID)
		wc.Join = []string{os.Getenv(envJoin)}
		wc.DataDir = os.Getenv(envData)
		wc.Threads = 1
		wc.RetryMax = 500 * time.Millisecond
		wc.Logger = log
		wc.Hooks.BeforeReduce = hangOnSignal(log)
		w, err := worker.New(wc)
		if err != nil {
			fmt.Fprintln(os.Stderr, "clustertest worker:", err)
			return 1
		}
		if _, err := w.Run(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "clustertest worker:", err)
			return 1
		}
	default:
		fmt.Fprintf(os.Stderr, "clustertest child: unknown role %q\n", role)
		return 2
	}
	return 0
}

// childResult is what a coordinator child reports.
type childResult struct {
	Digest     string
	Steps      int
	Recomputed int
	Retries    int
	Generation uint64
	Accounting string // "ok" or the problem
	TestAcc    float64
	Rings      [][]string // per step: the ring that committed it (nil when unknown)
}

func childCoordinator(ctx context.Context, j job.Job, log *slogLogger) error {
	cfg := coordinator.DefaultConfig(j)
	cfg.DataDir = os.Getenv(envData)
	cfg.StorePath = os.Getenv(envStore)
	cfg.Listen = os.Getenv(envGRPC)
	cfg.Gossip = cfg.Gossip.Loopback()
	cfg.Gossip.BindPort, _ = strconv.Atoi(os.Getenv(envGoss))
	cfg.CheckpointEvery = 5
	cfg.Settle = time.Second
	cfg.FinishGrace = 2 * time.Second
	cfg.EvalThreads = 1
	cfg.Logger = log
	if d, err := time.ParseDuration(os.Getenv(envDead)); err == nil && d > 0 {
		cfg.StepDeadline = d
	}
	if n, err := strconv.Atoi(os.Getenv(envStart)); err == nil && n > 0 {
		cfg.StartWorkers = n
	}
	// After every commit: report it with its ring, wait for the harness's "go"
	// (it applies faults and paces the run).
	in := bufio.NewScanner(os.Stdin)
	cfg.Hooks.AfterCommit = func(steps int, ring []string) {
		fmt.Printf("commit %d %d %s\n", steps, time.Now().UnixNano(), strings.Join(ring, ","))
		in.Scan() // "go"
	}
	var testAcc float64
	cfg.OnEpoch = func(r coordinator.EpochReport) { testAcc = r.TestAcc }
	c, err := coordinator.New(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("ready %s %s\n", c.Addr(), c.GossipAddr())
	res, err := c.Run(ctx)
	if err != nil {
		return err
	}
	train, _, err := job.LoadData(ctx, res.Job, cfg.DataDir)
	if err != nil {
		return err
	}
	acct := "ok"
	if err := CheckAccounting(res, res.Job, train.Len()); err != nil {
		acct = err.Error()
	}
	r := childResult{Digest: hex.EncodeToString(res.Final.Digest[:]), Steps: res.Steps,
		Recomputed: res.Recomputed, Retries: res.Retries, Generation: res.Generation, Accounting: acct, TestAcc: testAcc}
	for _, row := range res.Ledger {
		r.Rings = append(r.Rings, row.Workers)
	}
	out, _ := json.Marshal(r)
	return os.WriteFile(os.Getenv(envOut), out, 0o644)
}

// Procs describes a run of a cluster of child processes under a schedule.
type Procs struct {
	Job          job.Job
	DataDir      string
	Dir          string // for the store, the result and the logs
	Workers      int    // started at once, ids w0..w(n-1)
	Schedule     Schedule
	StepDeadline time.Duration       // 0 = the default
	Timeout      time.Duration       // the whole run (0 = 2 minutes)
	WorkerEnv    map[string][]string // extra environment ("NAME=value") of the named workers
	// WorkerCmd runs the named workers with another command than this test
	// binary, such as an emulator and a build of it for another
	// architecture; the child's arguments are appended.
	WorkerCmd map[string][]string
}

// ProcReport is what a process run observed.
type ProcReport struct {
	Digest        job.Digest
	Recomputed    int
	Retries       int
	Generation    uint64
	Accounting    string
	TestAcc       float64
	Rings         [][]string // per step: the ring that committed it (nil when unknown)
	Applied       []Fault
	DeathToCommit []time.Duration // per killed worker: its death to the next committed step
	Logs          string          // the children's stderr, for failures
}

type child struct {
	name string
	cmd  *exec.Cmd
	done chan error
}

// freePort returns a TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RunProcs runs the job on a coordinator process and worker processes,
// applying the schedule's faults with real signals, and returns what happened.
func RunProcs(ctx context.Context, o Procs) (*ProcReport, error) {
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	js, err := json.Marshal(o.Job)
	if err != nil {
		return nil, err
	}
	gport, err := freePort()
	if err != nil {
		return nil, err
	}
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	gossip := net.JoinHostPort("127.0.0.1", strconv.Itoa(gport))
	resultPath := filepath.Join(o.Dir, "result.json")
	logPath := filepath.Join(o.Dir, "children.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	var logMu sync.Mutex
	logw := &lockedWriter{mu: &logMu, w: logf}

	base := append(os.Environ(), envJob+"="+string(js), envData+"="+o.DataDir)
	start := func(name, role string, extra ...string) (*child, io.WriteCloser, io.ReadCloser, error) {
		argv := []string{os.Args[0]}
		if c := o.WorkerCmd[name]; role == "worker" && len(c) > 0 {
			argv = c
		}
		cmd := exec.Command(argv[0], append(slices.Clone(argv[1:]), "-test.run=^$")...)
		cmd.Env = append(append(slices.Clone(base), roleEnv+"="+role), extra...)
		cmd.Stderr = &prefixWriter{prefix: name + ": ", w: logw}
		var stdin io.WriteCloser
		var stdout io.ReadCloser
		if role == "coordinator" {
			if stdin, err = cmd.StdinPipe(); err != nil {
				return nil, nil, nil, err
			}
			if stdout, err = cmd.StdoutPipe(); err != nil {
				return nil, nil, nil, err
			}
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, nil, err
		}
		c := &child{name: name, cmd: cmd, done: make(chan error, 1)}
		go func() { c.done <- cmd.Wait() }()
		return c, stdin, stdout, nil
	}
	var (
		all      []*child
		workers  = map[string]*child{}
		rep      = &ProcReport{}
		deaths   []time.Time
		commitCh = make(chan string, 64)
		fired    = map[int]bool{}
		pace     = newPacer(o.Workers)
	)
	defer func() {
		for _, c := range all {
			_ = c.cmd.Process.Signal(syscall.SIGCONT)
			_ = c.cmd.Process.Kill()
		}
		for _, c := range all {
			<-c.done
		}
		logMu.Lock()
		if b, err := os.ReadFile(logPath); err == nil {
			rep.Logs = string(b)
		}
		logMu.Unlock()
	}()
	var coord *child
	var coordIn io.WriteCloser
	startCoord := func() error {
		c, in, out, err := start("coordinator", "coordinator", envStore+"="+filepath.Join(o.Dir, "asf.db"),
			envGRPC+"="+net.JoinHostPort("127.0.0.1", strconv.Itoa(cport)), envGoss+"="+strconv.Itoa(gport),
			envDead+"="+o.StepDeadline.String(), envOut+"="+resultPath,
			envStart+"="+strconv.Itoa(max(1, o.Workers)))
		if err != nil {
			return err
		}
		coord, coordIn = c, in
		all = append(all, c)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				commitCh <- sc.Text()
			}
		}()
		return nil
	}
	startWorker := func(id string) error {
		c, _, _, err := start(id, "worker", append([]string{envID + "=" + id, envJoin + "=" + gossip}, o.WorkerEnv[id]...)...)
		if err != nil {
			return err
		}
		workers[id] = c
		all = append(all, c)
		return nil
	}
	if err := startCoord(); err != nil {
		return rep, err
	}
	for i := range o.Workers {
		if err := startWorker(fmt.Sprintf("w%d", i)); err != nil {
			return rep, err
		}
	}
	apply := func(f Fault, at int) error {
		switch f.Action {
		case Kill:
			deaths = append(deaths, time.Now())
			return signal(workers[f.Node], syscall.SIGKILL)
		case Stop, Cont:
			sig, c := syscall.SIGSTOP, workers[f.Node]
			if f.Action == Cont {
				sig = syscall.SIGCONT
			}
			if f.Node == "coordinator" {
				c = coord
			}
			return signal(c, sig)
		case Hang:
			return signal(workers[f.Node], syscall.SIGUSR1)
		case Unhang:
			return signal(workers[f.Node], syscall.SIGUSR2)
		case Join:
			return startWorker(f.Node)
		case RestartCoordinator:
			old := coord
			if err := signal(old, syscall.SIGKILL); err != nil {
				return err
			}
			<-old.done
			old.done <- nil // for the deferred cleanup
			return startCoord()
		}
		return fmt.Errorf("unknown action %q", f.Action)
	}
	for {
		var line string
		select {
		case line = <-commitCh:
		case err := <-coord.done:
			coord.done <- err
			if err != nil {
				return rep, fmt.Errorf("the coordinator exited: %w", err)
			}
			return rep, readResult(resultPath, rep)
		case <-ctx.Done():
			return rep, fmt.Errorf("the cluster did not finish: %w", ctx.Err())
		}
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "commit":
			at, _ := strconv.Atoi(f[1])
			ns, _ := strconv.ParseInt(f[2], 10, 64)
			for _, d := range deaths {
				rep.DeathToCommit = append(rep.DeathToCommit, time.Unix(0, ns).Sub(d))
			}
			deaths = nil
			var ring []string
			if len(f) == 4 {
				ring = strings.Split(f[3], ",")
			}
			time.Sleep(pace.commit(ring))
			if _, err := io.WriteString(coordIn, "go\n"); err != nil {
				return rep, err
			}
			if fired[at] { // once: a rollback may commit a step again
				continue
			}
			fired[at] = true
			for _, fault := range o.Schedule.At(at) {
				time.Sleep(fault.Delay)
				if err := apply(fault, at); err != nil {
					return rep, fmt.Errorf("fault %v: %w", fault, err)
				}
				pace.fault(fault)
				rep.Applied = append(rep.Applied, fault)
			}
		}
	}
}

func signal(c *child, sig syscall.Signal) error {
	if c == nil {
		return errors.New("no such node")
	}
	return c.cmd.Process.Signal(sig)
}

func readResult(path string, rep *ProcReport) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r childResult
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	d, err := hex.DecodeString(r.Digest)
	if err != nil || len(d) != 32 {
		return fmt.Errorf("result digest %q", r.Digest)
	}
	copy(rep.Digest[:], d)
	rep.Recomputed, rep.Retries, rep.Generation, rep.Accounting, rep.TestAcc = r.Recomputed, r.Retries, r.Generation, r.Accounting, r.TestAcc
	rep.Rings = r.Rings
	return nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter prefixes every line with the child's name.
type prefixWriter struct {
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := slices.Index(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := p.w.Write(append([]byte(p.prefix), p.buf[:i+1]...)); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
}
