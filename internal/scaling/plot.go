package scaling

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"

	"github.com/asfnet/asf/internal/emucluster"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one curve of the plot: a configuration at growing W.
type Series struct {
	Label    string
	Workers  []int
	Measured []float64 // E(W)
	Model    []float64 // E(W) of the model; nil when not fitted (weights mode)
}

// SeriesOf groups points by everything but W, with E(W) relative to the
// group's W = 1 point (groups without one are left out), and the model's E(W)
// for gradient mode when m is not nil.
func SeriesOf(points []Point, m *Model) []Series {
	type key struct {
		batch      int
		mode       string
		link       int64
		cpus       float64
		localSteps int
	}
	groups := map[key][]Point{}
	var order []key
	for _, p := range points {
		k := key{p.Config.Job.Batch, p.Config.SyncMode, p.Config.LinkBits, p.Config.CPUs, 0}
		if p.Config.SyncMode == "weights" {
			k.localSteps = p.Config.LocalSteps
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	var out []Series
	for _, k := range order {
		ps := groups[k]
		slices.SortFunc(ps, func(a, b Point) int { return a.Config.Workers - b.Config.Workers })
		if ps[0].Config.Workers != 1 {
			continue
		}
		s := Series{Label: fmt.Sprintf("batch %d, %s, %s", k.batch, k.mode, emucluster.FormatRate(k.link))}
		if k.mode == "weights" {
			s.Label = fmt.Sprintf("batch %d, local SGD (%d steps), %s", k.batch, k.localSteps, emucluster.FormatRate(k.link))
		}
		one := ps[0].SamplesPerSec
		var mone float64
		if m != nil && k.mode == "gradient" {
			mone = float64(k.batch) / m.Predict(ShapeOf(ps[0])).Step()
		}
		for _, p := range ps {
			s.Workers = append(s.Workers, p.Config.Workers)
			s.Measured = append(s.Measured, p.SamplesPerSec/(float64(p.Config.Workers)*one))
			if mone > 0 {
				sps := float64(k.batch) / m.Predict(ShapeOf(p)).Step()
				s.Model = append(s.Model, sps/(float64(p.Config.Workers)*mone))
			}
		}
		out = append(out, s)
	}
	return out
}

// WritePlot draws E(W) of the series (measured: solid with markers; model:
// dashed) into a PNG or SVG file, by the path's extension.
func WritePlot(path, title string, series []Series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "workers W"
	p.Y.Label.Text = "scaling efficiency E(W) = thr(W) / (W thr(1))"
	p.Y.Min, p.Y.Max = 0, 1.1
	p.Legend.Top, p.Legend.Left = false, true
	p.Add(plotter.NewGrid())
	palette := []color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}, {255, 127, 14, 255}, {23, 190, 207, 255}}
	maxW := 1
	for i, s := range series {
		c := palette[i%len(palette)]
		xy := make(plotter.XYs, len(s.Workers))
		for j, w := range s.Workers {
			xy[j] = plotter.XY{X: float64(w), Y: s.Measured[j]}
			maxW = max(maxW, w)
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, pts.Color, pts.Shape = c, c, draw.CircleGlyph{}
		l.Width = vg.Points(1.5)
		p.Add(l, pts)
		p.Legend.Add(s.Label+" (measured)", l, pts)
		if len(s.Model) == len(s.Workers) {
			mxy := make(plotter.XYs, len(s.Workers))
			for j, w := range s.Workers {
				mxy[j] = plotter.XY{X: float64(w), Y: s.Model[j]}
			}
			ml, err := plotter.NewLine(mxy)
			if err != nil {
				return err
			}
			ml.Color, ml.Dashes = c, []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(ml)
			p.Legend.Add("model", ml)
		}
	}
	p.X.Min, p.X.Max = 0.8, float64(maxW)+0.2
	ideal := plotter.NewFunction(func(float64) float64 { return 1 })
	ideal.Color = color.Gray{Y: 120}
	ideal.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
	p.Add(ideal)
	format := filepath.Ext(path)
	if format != ".png" && format != ".svg" {
		return fmt.Errorf("%w: plot %s: want a .png or .svg file", ErrInvalid, path)
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}
