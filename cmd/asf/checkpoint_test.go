package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/worker"
)

// ckptState is a small synthetic training state.
func ckptState(job string, step int, testAcc float64) *checkpoint.State {
	w := func(name string, shape ...int) checkpoint.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		t := checkpoint.Tensor{Name: name, Shape: shape, Data: make([]float32, n)}
		for i := range t.Data {
			t.Data[i] = float32((i*7+step)%13-6) / 10
		}
		return t
	}
	return &checkpoint.State{
		Job: job, Spec: "4C5-P2-10FC", Config: []byte(`{"id":"` + job + `","neuron":{"t":8,"vth":1}}`),
		Seed: 3, Epoch: step / 10, Step: step, StepInEpoch: step % 10,
		Weights:   []checkpoint.Tensor{w("conv1.weight", 4, 1, 5, 5), w("fc2.weight", 10, 196)},
		Optimizer: checkpoint.Optimizer{Name: "adam", Step: int64(step), LR: 1e-3, Slots: []checkpoint.Tensor{w("conv1.m", 4, 1, 5, 5)}},
		Scales:    []float64{1, 0.8},
		Metrics:   checkpoint.Summary{TrainLoss: 0.5, TrainAcc: 0.8, TestAcc: testAcc, HasTest: true, SamplesPerSec: 100, Time: time.Unix(1e9, 0)},
	}
}

// runCkpt runs `asf checkpoint ARGS...` and returns its output.
func runCkpt(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newCheckpointCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestCheckpointCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "asf.db")
	s, err := checkpoint.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, acc := range []float64{0.9, 0.5, 0.6, 0.7} {
		if _, err := s.Save(ckptState("lenet", 10*(i+1), acc)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	out, err := runCkpt(t, "ls", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	// Retention: last 3 and the best (id 1, 90%).
	for _, want := range []string{"ID  JOB", "1   lenet  1      10", "90.00%", "4   lenet  4      40", "ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 5 {
		t.Errorf("ls: want a header and 4 rows:\n%s", out)
	}

	out, err = runCkpt(t, "show", "lenet", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"checkpoint 4 of job lenet", "epoch 4, step 40", "conv1.weight", "[4 1 5 5]", "fc2.weight", "scales     [1 0.8]", "optimizer slots:", `"vth": 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	if out, err = runCkpt(t, "show", "lenet", "2", "--db", db); err != nil || !strings.Contains(out, "checkpoint 2 of job lenet") {
		t.Fatalf("show lenet 2: %v\n%s", err, out)
	}

	out, err = runCkpt(t, "verify", "--db", db)
	if err != nil || !strings.Contains(out, "4 checkpoint(s), 4 ok, 0 bad") || !strings.Contains(out, "file structure: ok") {
		t.Fatalf("verify: %v\n%s", err, out)
	}

	st := filepath.Join(dir, "m.safetensors")
	mj := filepath.Join(dir, "m.json")
	out, err = runCkpt(t, "export", "lenet", "-o", st, "--json", mj, "--optimizer", "--db", db)
	if err != nil || !strings.Contains(out, "checkpoint 4 of job lenet (epoch 4, step 40) -> "+st+": 3 tensors") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	var model checkpoint.ModelJSON
	if b, err := os.ReadFile(mj); err != nil || json.Unmarshal(b, &model) != nil || len(model.Layers) != 3 || model.Layers[2].Weight != "fc2.weight" {
		t.Fatalf("model JSON: %v %+v", err, model)
	}

	out, err = runCkpt(t, "import", st, "--job", "copy", "--db", db)
	if err != nil || !strings.Contains(out, "checkpoint 1 of job copy (exported from job lenet): epoch 4, step 40, 2 weight tensors, 1 optimizer slots") ||
		!strings.Contains(out, "recorded the job configuration") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	s, err = checkpoint.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err1 := s.Latest("lenet")
	b, _, err2 := s.Latest("copy")
	cfg, err3 := s.Job("copy")
	s.Close()
	if err1 != nil || err2 != nil || err3 != nil || string(cfg) != string(a.Config) || b.Step != a.Step ||
		len(b.Optimizer.Slots) != 1 || b.Weights[1].Data[7] != a.Weights[1].Data[7] {
		t.Fatalf("imported state differs: %v %v %v", err1, err2, err3)
	}

	bk := filepath.Join(dir, "backup.db")
	if out, err = runCkpt(t, "backup", "-o", bk, "--db", db); err != nil || !strings.Contains(out, "-> "+bk) {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if out, err = runCkpt(t, "ls", "copy", "--db", bk); err != nil || !strings.Contains(out, "1   copy") {
		t.Fatalf("ls of the backup: %v\n%s", err, out)
	}

	out, err = runCkpt(t, "prune", "lenet", "--keep-last", "1", "--keep-best", "0", "--db", db)
	if err != nil || !strings.Contains(out, "deleted 3 checkpoint(s) [1 2 3], kept 1: 4") {
		t.Fatalf("prune: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ls", "--db", filepath.Join(dir, "none.db")}, "does not exist"},
		{[]string{"ls", "--db", mj}, "not a checkpoint store"},
		{[]string{"show", "nojob", "--db", db}, `no job "nojob"`},
		{[]string{"show", "lenet", "x", "--db", db}, "want a positive integer"},
		{[]string{"export", "lenet", "--db", db}, "-o FILE.safetensors is required"},
		{[]string{"import", mj, "--job", "j", "--db", db}, "safetensors"},
		{[]string{"prune", "lenet", "--keep-last", "0", "--db", db}, "want last >= 1"},
	} {
		if out, err := runCkpt(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want it to mention %q\n%s", tc.args, err, tc.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("ls created the store it was asked to list")
	}
}

// A store with a broken leaf page: verify reports it (without panicking) and
// fails; salvage -o writes a sound copy and leaves the store; salvage in place
// sets the damaged file aside and the store verifies again.
func TestCheckpointVerifySalvage(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "asf.db")
	s, err := checkpoint.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Save(ckptState("lenet", 10*(i+1), 0.5)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// The leaf with the jobs' index records: set its element count to 0xffff.
	broke := false
	for off := 2 * 4096; off+4096 <= len(data); off += 4096 {
		if data[off+8] == 0x02 && bytes.Contains(data[off:off+4096], []byte("ASFINDEX")) {
			data[off+10], data[off+11] = 0xff, 0xff
			broke = true
			break
		}
	}
	if !broke {
		t.Fatal("no leaf page with index records found")
	}
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCkpt(t, "verify", "--db", db)
	if err == nil || !strings.Contains(err.Error(), "damaged store file") || !strings.Contains(out, "element count 65535 does not fit") {
		t.Fatalf("verify of a damaged store: %v\n%s", err, out)
	}
	cp := filepath.Join(dir, "copy.db")
	if out, err = runCkpt(t, "salvage", "-o", cp, "--db", db); err != nil || !strings.Contains(out, "salvaged into "+cp) {
		t.Fatalf("salvage -o: %v\n%s", err, out)
	}
	if out, err = runCkpt(t, "verify", "--db", cp); err != nil {
		t.Fatalf("verify of the salvaged copy: %v\n%s", err, out)
	}
	if out, err = runCkpt(t, "salvage", "--db", db); err != nil || !strings.Contains(out, "the damaged file is kept at "+db+".damaged-") {
		t.Fatalf("salvage: %v\n%s", err, out)
	}
	if out, err = runCkpt(t, "verify", "--db", db); err != nil || !strings.Contains(out, "file structure: ok") {
		t.Fatalf("verify after salvage: %v\n%s", err, out)
	}
	if out, err = runCkpt(t, "salvage", "--db", db); err != nil || !strings.Contains(out, "no damage found") {
		t.Fatalf("salvage of a sound store: %v\n%s", err, out)
	}
}

// A hot backup of a live store: while the job trains (after its first
// checkpoints), `asf checkpoint backup --coordinator` streams the store from the
// coordinator, which holds the file's lock; the copy verifies and holds the
// job. Without the join token the coordinator refuses.
func TestCheckpointBackupFromCoordinator(t *testing.T) {
	old := globals
	t.Cleanup(func() { globals = old })
	globals.log.Level, globals.log.Format = "warn", "text"
	dir := t.TempDir()
	j := job.Default()
	j.ID, j.Dataset, j.Spec = "hot", "synthetic", "4C3-P2-10FC"
	j.Neuron.T, j.Epochs, j.Batch, j.Micro, j.TrainSize, j.TestSize = 4, 2, 16, 16, 160, 32
	cfg := coordinator.DefaultConfig(j)
	cfg.DataDir, cfg.StorePath, cfg.NoTest, cfg.CheckpointEvery = dir, filepath.Join(dir, "asf.db"), true, 3
	cfg.StartWorkers, cfg.JoinToken, cfg.FinishGrace = 1, "s3cret", 200*time.Millisecond
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cl *inproc.Cluster
	var once sync.Once
	var out, refused string
	var err, refusedErr error
	bk := filepath.Join(dir, "hot.db")
	cfg.Hooks.AfterCommit = func(steps int, _ []string) {
		if steps < 8 {
			return
		}
		once.Do(func() {
			addr := cl.Coordinator().Addr()
			refused, refusedErr = runCkpt(t, "backup", "--coordinator", addr, "-o", filepath.Join(dir, "no.db"))
			out, err = runCkpt(t, "backup", "--coordinator", addr, "--join-token-file", tokenFile, "-o", bk)
		})
	}
	cl, cerr := inproc.Start(context.Background(), inproc.Config{Coordinator: cfg, Workers: 1, Worker: func(int) worker.Config {
		wc := worker.DefaultConfig()
		wc.ID, wc.Threads, wc.JoinToken = "w0", 1, "s3cret"
		return wc
	}})
	if cerr != nil {
		t.Fatal(cerr)
	}
	if _, rerr := cl.Run(); rerr != nil {
		t.Fatal(rerr)
	}
	if refusedErr == nil || !strings.Contains(refusedErr.Error(), "no join token") {
		t.Fatalf("backup without the token: %v\n%s", refusedErr, refused)
	}
	if err != nil || !strings.Contains(out, "coordinator ") || !strings.Contains(out, "verified") {
		t.Fatalf("hot backup: %v\n%s", err, out)
	}
	rep, ierr := checkpoint.Inspect(bk, nil)
	if ierr != nil || rep.Damaged() || !slices.Equal(rep.Jobs, []string{"hot"}) || len(rep.Checkpoints) == 0 || rep.Metrics < 4 {
		t.Fatalf("the backup: %v %v, jobs %v, %d checkpoints, %d metric points", ierr, rep.Err(), rep.Jobs, len(rep.Checkpoints), rep.Metrics)
	}
	for _, r := range rep.Checkpoints {
		if !r.OK() || r.Step > 10 {
			t.Fatalf("checkpoint %d in the backup: step %d, %v (want one taken before the job's end)", r.ID, r.Step, r.Err)
		}
	}
}
