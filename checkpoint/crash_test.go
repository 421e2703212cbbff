package checkpoint

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashFloats is the size of the crash test's state: 5 Mi float32 = 20 MiB
// (1 Mi under the race detector, which slows byte copies down twenty-fold).
var crashFloats = map[bool]int{false: 5 << 20, true: 1 << 20}[raceEnabled]

// crashBase is random bits (NaN payloads included) for the crash states.
var crashBase = sync.OnceValue(func() []byte {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		panic(err)
	}
	b := make([]byte, 4*crashFloats)
	cipher.NewCTR(block, make([]byte, 16)).XORKeyStream(b, b)
	return b
})

// crashState is the state the crash helper saves at step n: the data is the
// random base rotated by an amount that depends on n, so a checkpoint torn
// between two saves would not match any step.
func crashState(n int) *State {
	base := crashBase()
	rot := (n * 4099 * 4) % len(base)
	b := append(append(make([]byte, 0, len(base)), base[rot:]...), base[:rot]...)
	w := Tensor{Name: "fc1.weight", Shape: []int{crashFloats >> 10, 1 << 10}, Data: make([]float32, crashFloats)}
	readFloat32s(w.Data, b)
	m := Tensor{Name: "fc1.weight.m", Shape: []int{4}, Data: []float32{float32(n), 1, 2, 3}}
	cfg := []byte(`{"n":` + strconv.Itoa(n) + `}`)
	return &State{
		Job: "crash", Spec: "1024FC-5120FC", Config: cfg, ConfigDigest: sha256.Sum256(cfg),
		Seed: 11, Epoch: n / 10, Step: n, StepInEpoch: n % 10,
		Weights:   []Tensor{w},
		Optimizer: Optimizer{Name: "adam", Step: int64(n), Slots: []Tensor{m}, LR: 1e-3},
		Scales:    []float64{1, float64(n)},
		Metrics:   Summary{TrainLoss: 1 / float64(n+1), HasTest: true, TestAcc: float64(n%7) / 10},
	}
}

// TestHelperProcess is the child of TestCrashDuringSave, not a test of its own:
// it saves crash states one after another until it is killed, printing "begin n"
// before each Save and "saved n <ms>" after it returns.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("ASF_CHECKPOINT_CRASH_DB")
	if path == "" {
		return // run by `go test` directly: nothing to do
	}
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(3)
	}
	s, err := Open(path, &Options{Timeout: 5 * time.Second, KeepLast: 2, KeepBest: 1})
	if err != nil {
		fail(err)
	}
	n, err := strconv.Atoi(os.Getenv("ASF_CHECKPOINT_CRASH_STEP"))
	if err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	for ; ; n++ {
		st := crashState(n)
		fmt.Fprintf(out, "begin %d\n", n)
		out.Flush()
		t0 := time.Now()
		if _, err := s.Save(st); err != nil {
			fail(err)
		}
		fmt.Fprintf(out, "saved %d %d\n", n, time.Since(t0).Milliseconds())
		out.Flush()
	}
}

// TestCrashDuringSave kills a process with SIGKILL in the middle of saving a
// 20 MiB checkpoint, many times at random moments: each time the file opens, its
// bbolt structure checks out, every checkpoint verifies, and the latest is the
// last one whose Save returned (or the one in flight, if its commit completed
// before the kill), bit for bit.
func TestCrashDuringSave(t *testing.T) {
	kills := 8
	if testing.Short() || raceEnabled {
		kills = 3
	}
	path := filepath.Join(t.TempDir(), "asf.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	saveMs := 100 // typical Save time, updated from the child's reports
	var midSave, committed int
	lastSaved := -1 // the last step whose Save returned, over all children
	nextStep := 0   // the step the next child starts at
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ASF_CHECKPOINT_CRASH_DB="+path, fmt.Sprintf("ASF_CHECKPOINT_CRASH_STEP=%d", nextStep))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of begun saves, at a random moment within
		// the save then in flight.
		killAfter := 1 + rng.IntN(3)
		lines := make(chan string)
		var wg sync.WaitGroup
		wg.Go(func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		})
		begun, inFlight := 0, -1
		var timer <-chan time.Time
		for line := range lines {
			f := strings.Fields(line)
			switch f[0] {
			case "error":
				t.Fatalf("helper: %s", line)
			case "begin":
				inFlight, _ = strconv.Atoi(f[1])
				if begun++; begun == killAfter {
					timer = time.After(time.Duration(rng.IntN(saveMs+1)) * time.Millisecond)
				}
			case "saved":
				lastSaved, _ = strconv.Atoi(f[1])
				ms, _ := strconv.Atoi(f[2])
				saveMs = (saveMs + ms) / 2
				committed++
			}
			if timer != nil {
				go func(c <-chan time.Time) { <-c; _ = cmd.Process.Signal(syscall.SIGKILL) }(timer)
				timer = nil
			}
		}
		wg.Wait()
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("kill %d: child ended with %v, not SIGKILL", k, err)
		}
		if lastSaved != inFlight {
			midSave++
		}
		nextStep = inFlight + 1

		s, err := Open(path, nil)
		if err != nil {
			t.Fatalf("kill %d: the file does not open after the crash: %v", k, err)
		}
		if _, err := s.Check(); err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		res, err := s.Verify("crash")
		if err != nil && !errors.Is(err, ErrJobNotFound) {
			t.Fatal(err)
		}
		for _, r := range res {
			if !r.OK() {
				t.Fatalf("kill %d: checkpoint %d does not verify: %v", k, r.ID, r.Err)
			}
		}
		st, _, err := s.Latest("crash")
		switch {
		case err != nil && lastSaved >= 0:
			t.Fatalf("kill %d: step %d was committed, Latest: %v", k, lastSaved, err)
		case err == nil && !slices.Contains([]int{lastSaved, inFlight}, st.Step):
			t.Fatalf("kill %d: latest is step %d, want %d (last committed) or %d (in flight)", k, st.Step, lastSaved, inFlight)
		case err == nil:
			if d := diffState(crashState(st.Step), st); d != nil {
				t.Fatalf("kill %d: step %d: %v", k, st.Step, d)
			}
		}
		s.Close()
	}
	fi, _ := os.Stat(path)
	t.Logf("%d kills (%d during a save), %d saves committed, typical save %d ms, file %d MB", kills, midSave, committed, saveMs, fi.Size()>>20)
}
