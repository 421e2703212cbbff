package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/asfnet/asf/checkpoint"
)

// Kinds of metric points with a meaning for the curves (checkpoint.MetricPoint.Kind).
const (
	KindStep     = "step"     // one training step: its loss and accuracy
	KindEpoch    = "epoch"    // one epoch: mean loss and accuracy, test accuracy
	KindReset    = "reset"    // the job was started afresh: earlier points are of another run
	KindRollback = "rollback" // training went back to Step: later points were recomputed
)

// History is a metrics history reduced to what one run of the job did: the points
// after the last reset, with those undone by a rollback removed.
type History struct {
	Job       string
	Steps     []checkpoint.MetricPoint // per-step points (kind "step" or any kind not listed above)
	Epochs    []checkpoint.MetricPoint // per-epoch points
	Rollbacks []int                    // the steps training was rolled back to, in order
}

// Reduce builds the History of points, in the order they were appended.
func Reduce(points []checkpoint.MetricPoint) History {
	var h History
	for _, p := range points {
		if h.Job == "" {
			h.Job = p.Job
		}
		switch p.Kind {
		case KindReset:
			h = History{Job: p.Job}
		case KindRollback:
			h.Steps = keepUpTo(h.Steps, p.Step)
			h.Epochs = keepUpTo(h.Epochs, p.Step)
			h.Rollbacks = append(h.Rollbacks, p.Step)
		case KindEpoch:
			h.Epochs = append(h.Epochs, p)
		default:
			h.Steps = append(h.Steps, p)
		}
	}
	return h
}

// keepUpTo returns the points of ps at or before step.
func keepUpTo(ps []checkpoint.MetricPoint, step int) []checkpoint.MetricPoint {
	out := ps[:0]
	for _, p := range ps {
		if p.Step <= step {
			out = append(out, p)
		}
	}
	return out
}

// Series names, as the legends show them.
const (
	SeriesStepLoss  = "train loss (per step)"
	SeriesEpochLoss = "train loss (epoch mean)"
	SeriesStepAcc   = "train accuracy (per step)"
	SeriesEpochAcc  = "train accuracy (epoch)"
	SeriesTestAcc   = "test accuracy (epoch end)"
	SeriesRollback  = "rollback"
)

// TrainingCurves draws the loss (top) and the accuracy (bottom, in percent) of a
// job's metrics history against the global step (or against the epoch when no point
// carries a step) and writes the figure to w in format ("png" or "svg"). Per-step
// values are thin light lines, epoch means and test accuracy bold lines with
// markers, rollbacks dashed red verticals. Non-finite values (a diverged run) are
// left out and counted in the subtitle.
func TrainingCurves(points []checkpoint.MetricPoint, w io.Writer, format string) error {
	if _, err := normFormat(format); err != nil {
		return err
	}
	if len(points) == 0 {
		return fmt.Errorf("%w: the metrics history is empty (no step or epoch points)", ErrEmpty)
	}
	h := Reduce(points)
	if len(h.Steps) == 0 && len(h.Epochs) == 0 {
		return fmt.Errorf("%w: the metrics history of job %q has %d points but none with a loss or accuracy since its last reset (only reset/rollback markers)",
			ErrEmpty, h.Job, len(points))
	}
	byEpoch := true
	for _, ps := range [][]checkpoint.MetricPoint{h.Steps, h.Epochs} {
		for _, p := range ps {
			if p.Step != 0 {
				byEpoch = false
			}
		}
	}
	byEpoch = byEpoch && len(h.Steps) == 0
	x := func(p checkpoint.MetricPoint) float64 {
		if byEpoch {
			return float64(p.Epoch + 1)
		}
		return float64(p.Step)
	}
	xlabel := "global step"
	if byEpoch {
		xlabel = "epoch"
	}
	var dropped int
	series := func(ps []checkpoint.MetricPoint, v func(checkpoint.MetricPoint) (float64, bool)) plotter.XYs {
		xy := make(plotter.XYs, 0, len(ps))
		for _, p := range ps {
			y, ok := v(p)
			if !ok {
				continue
			}
			if math.IsNaN(y) || math.IsInf(y, 0) || math.IsNaN(x(p)) {
				dropped++
				continue
			}
			xy = append(xy, plotter.XY{X: x(p), Y: y})
		}
		return xy
	}
	loss := func(p checkpoint.MetricPoint) (float64, bool) { return p.Loss, true }
	acc := func(p checkpoint.MetricPoint) (float64, bool) { return 100 * p.Acc, true }
	test := func(p checkpoint.MetricPoint) (float64, bool) { return 100 * p.TestAcc, p.HasTest }

	lp := newPlot("", xlabel, "training loss (MSE)")
	ap := newPlot("", xlabel, "accuracy (%)")
	lp.Legend.Top = true
	ap.Legend.Top = false
	for _, p := range []*plot.Plot{lp, ap} {
		p.Add(plotter.NewGrid())
		p.Legend.TextStyle.Font.Size = 10
		p.Legend.XOffs = -vg.Points(12) // clear of the last point and a rollback at the end
		p.Legend.YOffs = -vg.Points(4)
	}
	ap.Legend.YOffs = vg.Points(4)
	var err error
	add := func(p *plot.Plot, name string, xy plotter.XYs, c color.Color, bold bool) {
		if err != nil || len(xy) == 0 {
			return
		}
		l, e := plotter.NewLine(xy)
		if e != nil {
			err = fmt.Errorf("plot: series %s: %w", name, e)
			return
		}
		l.Color = c
		l.Width = vg.Points(0.8)
		if !bold {
			p.Add(l)
			p.Legend.Add(name, l)
			return
		}
		l.Width = vg.Points(2)
		s, e := plotter.NewScatter(xy)
		if e != nil {
			err = fmt.Errorf("plot: series %s: %w", name, e)
			return
		}
		s.Color = c
		s.Shape = draw.CircleGlyph{}
		s.Radius = vg.Points(3)
		p.Add(l, s)
		p.Legend.Add(name, l, s)
	}
	stepLoss, epochLoss := series(h.Steps, loss), series(h.Epochs, loss)
	if len(stepLoss)+len(epochLoss) == 0 {
		return fmt.Errorf("%w: every loss of job %q is NaN or infinite (%d values)", ErrEmpty, h.Job, dropped)
	}
	add(lp, SeriesStepLoss, stepLoss, lightBlue, false)
	add(lp, SeriesEpochLoss, epochLoss, blue, true)
	add(ap, SeriesStepAcc, series(h.Steps, acc), lightOrg, false)
	add(ap, SeriesEpochAcc, series(h.Epochs, acc), orange, true)
	add(ap, SeriesTestAcc, series(append(h.Steps[:len(h.Steps):len(h.Steps)], h.Epochs...), test), green, true)
	if err != nil {
		return err
	}
	ap.Y.Min, ap.Y.Max = 0, 100
	lp.X.Tick.Marker, ap.X.Tick.Marker = intTicks{}, intTicks{} // steps and epochs are whole
	if lp.Y.Min > 0 {
		lp.Y.Min = 0 // losses are non-negative: start the axis at 0 to show the scale
	}
	if !byEpoch {
		for i, s := range h.Rollbacks {
			for _, p := range []*plot.Plot{lp, ap} {
				l, e := plotter.NewLine(plotter.XYs{{X: float64(s), Y: p.Y.Min}, {X: float64(s), Y: p.Y.Max}})
				if e != nil {
					return fmt.Errorf("plot: rollback marker: %w", e)
				}
				l.Color = red
				l.Width = vg.Points(1.2)
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				p.Add(l)
				if i == 0 {
					p.Legend.Add(SeriesRollback, l)
				}
			}
		}
	}

	sub := summary(h, byEpoch)
	if dropped > 0 {
		sub += fmt.Sprintf("; %d NaN/infinite values left out", dropped)
	}
	const width, head, panel = 8 * vg.Inch, 0.7 * vg.Inch, 3.2 * vg.Inch
	c, err := newCanvas(format, width, head+2*panel)
	if err != nil {
		return err
	}
	name := h.Job
	if name == "" {
		name = "(unnamed)"
	}
	title(c.dc, head, "Training curves of job "+name, sub)
	plots := [][]*plot.Plot{{lp}, {ap}}
	cs := plot.Align(plots, draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter, PadBottom: 2 * vg.Millimeter}, below(c.dc, head))
	lp.Draw(cs[0][0])
	ap.Draw(cs[1][0])
	return c.write(w)
}

// summary is the subtitle of the curves: how much the history covers and the last
// values.
func summary(h History, byEpoch bool) string {
	s := ""
	if !byEpoch {
		last := 0
		for _, p := range append(h.Steps[:len(h.Steps):len(h.Steps)], h.Epochs...) {
			last = max(last, p.Step)
		}
		s = fmt.Sprintf("%d steps", last)
	}
	if n := len(h.Epochs); n > 0 {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d epochs", n)
		e := h.Epochs[n-1]
		s += fmt.Sprintf("; last epoch: loss %.4f, train accuracy %.2f%%", e.Loss, 100*e.Acc)
		if e.HasTest {
			s += fmt.Sprintf(", test accuracy %.2f%%", 100*e.TestAcc)
		}
	}
	if len(h.Rollbacks) > 0 {
		s += fmt.Sprintf("; %d rollback", len(h.Rollbacks))
		if len(h.Rollbacks) > 1 {
			s += "s"
		}
	}
	return s
}
