package engine_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fmaTargets are the builds in which the Go compiler may fuse a*b+c into one
// instruction (rounding once): arm64 always, amd64 from GOAMD64=v3 on.
var fmaTargets = []struct {
	name   string
	env    []string
	fma    *regexp.Regexp // the fused multiply-add mnemonics, Go assembler syntax
	canary []string       // the files of the canary package whose fusion the scan must see
}{
	{"arm64", []string{"GOARCH=arm64"}, regexp.MustCompile(`^F(N?)M(ADD|SUB)[SD]$`), []string{"canary.go"}},
	{"amd64-v3", []string{"GOARCH=amd64", "GOAMD64=v3"}, regexp.MustCompile(`^VF(N?)M(ADD|SUB|ADDSUB|SUBADD)(132|213|231)[PS][SD]$`),
		[]string{"canary.go", "canary_amd64.s"}},
}

// stateCode lists the packages whose floating-point results feed the
// training state that replicas compare bitwise: the engine, its kernels and
// functions, the data sets (generated and decoded on every worker) and the
// single-process training loop and the unit computation it shares with the
// worker (internal/job).
var stateCode = []string{"github.com/asfnet/asf/engine", "github.com/asfnet/asf/internal/f32",
	"github.com/asfnet/asf/internal/detmath", "github.com/asfnet/asf/dataset", "github.com/asfnet/asf/internal/local",
	"github.com/asfnet/asf/internal/job"}

// stateCodeNet are the state packages that need gRPC (the fixed-point
// conversions of the reduction; the worker, whose weights mode averages the
// state). Compiling gRPC for two more targets takes minutes on a cold cache,
// so they are scanned only when fullScanEnv is set (.ci/matrix sets it).
var stateCodeNet = []string{"github.com/asfnet/asf/allreduce", "github.com/asfnet/asf/worker"}

// fullScanEnv, set to 1, adds stateCodeNet to the scan.
const fullScanEnv = "ASF_FMA_SCAN_ALL"

// TestNoFusedMultiplyAdd compiles the packages of stateCode for each of
// fmaTargets and disassembles them: no instruction may be a fused
// multiply-add, since the builds without one (amd64 v1, the other
// architectures' ports without the rule) would compute other bits. Every
// product that is added must be converted explicitly (float64(a*b) + c), and
// no assembly kernel uses one (there is no allow-list: the kernels round the
// product, see internal/f32). A canary package that does fuse, in Go and in
// assembly, checks that the scan sees fusion at all.
func TestNoFusedMultiplyAdd(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the go command is needed to compile for the other targets: %v", err)
		}
		t.Skipf("no go command to compile for the other targets: %v", err)
	}
	dir := t.TempDir()
	for _, tg := range fmaTargets {
		t.Run(tg.name, func(t *testing.T) {
			canary := strings.Join(fusedIn(t, gobin, dir, tg.env, tg.fma, "./testdata/fmacanary"), "\n")
			for _, file := range tg.canary {
				if !strings.Contains(canary, " "+file+":") {
					t.Fatalf("the scan finds no fused multiply-add in the canary's %s for %s: it is blind\n%s", file, tg.name, canary)
				}
			}
			pkgs := stateCode
			if os.Getenv(fullScanEnv) == "1" {
				pkgs = append(slices.Clone(pkgs), stateCodeNet...)
			}
			var found []string
			for _, pkg := range pkgs {
				found = append(found, fusedIn(t, gobin, dir, tg.env, tg.fma, pkg)...)
			}
			if len(found) > 0 {
				t.Fatalf("%d fused multiply-adds in state code built for %s (round the product with an explicit conversion):\n%s",
					len(found), tg.name, strings.Join(found, "\n"))
			}
		})
	}
}

// fusedIn compiles pkg with the extra environment env, printing the
// compiler's and the assembler's listings (-gcflags=-S -asmflags=-S: go tool
// objdump cannot decode VEX instructions), and returns the instructions that
// match fma, each as "function file:line instruction operands".
func fusedIn(t *testing.T, gobin, dir string, env []string, fma *regexp.Regexp, pkg string) []string {
	t.Helper()
	out := filepath.Join(dir, strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+"-"+strings.Join(env, "-")+".a")
	build := exec.Command(gobin, "build", "-gcflags=-S", "-asmflags=-S", "-o", out, pkg)
	build.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0"}, env...)...)
	b, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s (%v): %v\n%s", pkg, env, err, b)
	}
	var found []string
	fn := "?"
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// A function: "pkg.F STEXT size=..."; an instruction:
		// "\t0x0012 00018 (file.go:8)\tMNEMONIC\toperands".
		if name, _, ok := strings.Cut(line, " STEXT"); ok && !strings.HasPrefix(line, "\t") {
			fn = name
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 3 || !strings.HasPrefix(f[1], "0x") {
			continue
		}
		lines++
		if fma.MatchString(f[2]) {
			pos := f[1]
			if i := strings.LastIndex(pos, "("); i >= 0 {
				pos = filepath.Base(strings.TrimSuffix(pos[i+1:], ")"))
			}
			found = append(found, fmt.Sprintf("%s %s %s", fn, pos, strings.Join(f[2:], " ")))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines == 0 {
		t.Fatalf("go build -gcflags=-S %s (%v) printed no instructions", pkg, env)
	}
	return found
}
