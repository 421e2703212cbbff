package scaling

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/asfnet/asf/internal/emucluster"
	"github.com/asfnet/asf/internal/job"
)

// JobOf returns the job Run trains for cfg, without its ID.
func JobOf(cfg RunConfig) job.Job {
	j := cfg.Job
	j.Epochs = 1
	j.TrainSize = (cfg.WarmSteps + cfg.Steps) * j.Batch
	return j
}

// EngineDigest trains the job of cfg with the engine alone (`asf train
// --workers 0`, the asf binary at asf) and returns the final weights'
// SHA-256: what gradient mode must reproduce bit for bit on any W.
func EngineDigest(ctx context.Context, asf string, cfg RunConfig) (string, error) {
	tmp, err := os.MkdirTemp("", "asf-scaling-engine-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	j := JobOf(cfg)
	j.ID = "scaling-engine"
	jf := filepath.Join(tmp, "job.json")
	if err := os.WriteFile(jf, j.JSON(), 0o644); err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, asf, "train", "--job-file", jf, "--workers", "0", "--threads", "1", "--no-test",
		"--data-dir", cfg.DataDir)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: asf train --workers 0: %v\n%s", ErrRun, err, out.String())
	}
	m := regexp.MustCompile(`weights sha256: ([0-9a-f]{64})`).FindStringSubmatch(out.String())
	if m == nil {
		return "", fmt.Errorf("%w: asf train printed no weights digest:\n%s", ErrRun, out.String())
	}
	return m[1], nil
}

// PrintPoints writes the measured table: per configuration the throughput,
// E(W) against the W = 1 point of the same batch, mode, link and quota, the
// CPU bound on E(W) (below), the step split, the bytes per step, the CPU use,
// the model's step time and its error (gradient mode, when m is not nil),
// whether the weights equal the reference digest of the batch (engine alone,
// or W = 1), and the host load.
//
// The CPU bound is CPU(1) / (W x CPU(W)), CPU(W) a worker's CPU time per step
// of the W-worker run: under a CPU quota no worker can step faster than its
// CPU time over its quota, so E(W) cannot exceed it however well waiting is
// hidden; a measured E(W) close to it says the work each worker adds, not the
// waiting, is what is left. It is printed only for runs with a quota.
func PrintPoints(w io.Writer, points []Point, m *Model, ref map[int]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "W\tbatch\tmode\tlink\tcpus\tsamples/s\tE(W)\tcpu bound\tstep ms\tcompute\tallreduce\t(fastest)\tupdate\tcoord\tpayload KB\twire KB\tlink use\tcpu ms\tthrottled\tmodel ms\terr\tweights\tload\t\n")
	one := map[string]Point{} // the W = 1 point of each batch, mode, link and quota
	keyOf := func(p Point) string {
		return fmt.Sprintf("%d/%s/%d/%g/%d", p.Config.Job.Batch, p.Config.SyncMode, p.Config.LinkBits, p.Config.CPUs, p.Config.LocalSteps)
	}
	for _, p := range points {
		if p.Config.Workers == 1 {
			one[keyOf(p)] = p
		}
	}
	ms := func(d float64) string { return fmt.Sprintf("%.1f", d*1e3) }
	var spread strings.Builder
	for _, p := range points {
		c := p.Config
		mode := c.SyncMode
		if mode == "weights" {
			mode = fmt.Sprintf("weights/%d", c.LocalSteps)
		}
		e := "-"
		o := one[keyOf(p)]
		if o.SamplesPerSec > 0 {
			e = fmt.Sprintf("%.3f", p.SamplesPerSec/(float64(c.Workers)*o.SamplesPerSec))
		}
		bound := "-"
		if o.CPU > 0 && p.CPU > 0 && c.CPUs > 0 {
			bound = fmt.Sprintf("%.3f", o.CPU.Seconds()/(float64(c.Workers)*p.CPU.Seconds()))
		}
		model, errPct := "-", "-"
		if m != nil && c.SyncMode == "gradient" {
			t := m.Predict(ShapeOf(p)).Step()
			model = ms(t)
			errPct = fmt.Sprintf("%+.1f%%", 100*(t-p.StepTime.Seconds())/p.StepTime.Seconds())
		}
		same := p.Digest[:min(8, len(p.Digest))]
		r, ok := ref[c.Job.Batch]
		if p.EngineDigest != "" {
			r, ok = p.EngineDigest, true
		}
		if ok && c.SyncMode == "gradient" {
			if r == p.Digest {
				same += " ="
			} else {
				same += " DIFFERS"
			}
		}
		if len(p.Runs) > 1 {
			lo, hi := slices.Min(p.Runs), slices.Max(p.Runs)
			fmt.Fprintf(&spread, "W=%d batch %d %s %s: median of %d runs, samples/s %.1f..%.1f\n", c.Workers, c.Job.Batch, mode,
				emucluster.FormatRate(c.LinkBits), len(p.Runs), lo, hi)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t%s\t%.0f%%\t%s\t%s\t%s\t%.1f-%.1f\t\n",
			c.Workers, c.Job.Batch, mode, emucluster.FormatRate(c.LinkBits), c.CPUs, p.SamplesPerSec, e, bound,
			ms(p.StepTime.Seconds()), ms(p.Compute.Seconds()), ms(p.Reduce.Seconds()), ms(p.ReduceMin.Seconds()), ms(p.Update.Seconds()), ms(p.Coord.Seconds()),
			p.PayloadBytes/1e3, p.WireBytes/1e3, linkUse(p), ms(p.CPU.Seconds()), 100*p.Throttled, model, errPct, same, p.Load[0], p.Load[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, spread.String())
	return err
}

// PrintModel writes the fitted coefficients.
func PrintModel(w io.Writer, m Model) {
	fmt.Fprintf(w, "model (fitted on workers that got %.2f cores each (CPU time / wall time), %d thread(s), micro-batch %d):\n", m.CPUs, m.Threads, m.Micro)
	fmt.Fprintf(w, "  compute    = %.1f ms + %.3f ms per sample\n", m.C0*1e3, m.S*1e3)
	fmt.Fprintf(w, "  all-reduce = 2(W-1) x %.2f ms + 2(W-1)/W x payload x max(8 x %.3f / rate, %.2f ns/B)\n", m.Alpha*1e3, m.Overhead, m.Kappa*1e9)
	fmt.Fprintf(w, "  wait       = %.1f ms + (W-1) x %.1f ms\n", m.F0*1e3, m.F1*1e3)
}

// PrintPredictions writes the model's predictions.
func PrintPredictions(w io.Writer, ps []Prediction) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "net\tW\tcores\tlink\tbatch\tmicro\tsamples/s\tE(W)\tstep ms\tcompute\tallreduce\twait\tallreduce share\tnote\t\n")
	for _, p := range ps {
		note := ""
		if p.Unsafe {
			note = "untrusted: " + p.UnsafeReason
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%.0f\t%.3f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f%%\t%s\t\n", p.Net, p.Workers, p.Cores,
			emucluster.FormatRate(p.LinkBits), p.Batch, p.Micro, p.SamplesPerSec, p.E, p.Parts.Step()*1e3, p.Parts.Compute*1e3,
			p.Parts.Reduce*1e3, p.Parts.Wait*1e3, 100*p.ReduceShare, note)
	}
	return tw.Flush()
}

// SavePoints writes the points as JSON (for docs and later fits).
func SavePoints(path string, points []Point) error {
	b, err := json.MarshalIndent(points, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// LoadPoints reads points written by SavePoints.
func LoadPoints(path string) ([]Point, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ps []Point
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("%w: %s: want the JSON of `asf bench scaling --json`: %v", ErrInvalid, path, err)
	}
	return ps, nil
}

// linkUse is the fastest worker's all-reduce rate on the wire (its sent
// frames over its all-reduce time) as a share of the link rate: the busbw of
// the ring against the link.
func linkUse(p Point) string {
	if p.ReduceMin <= 0 || p.Config.LinkBits <= 0 || p.WireBytes <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*8*p.WireBytes/p.ReduceMin.Seconds()/float64(p.Config.LinkBits))
}
