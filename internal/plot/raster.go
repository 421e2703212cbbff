package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/asfnet/asf/engine"
)

// LayerSpikes is the spike train of one layer over the time window of one sample.
type LayerSpikes struct {
	Name    string    // stable layer name, e.g. "conv1"
	Text    string    // the layer in the spec's notation, e.g. "8C3"
	Neurons int       // number of neurons (the layer's output size)
	Times   [][]int32 // Times[t]: the neurons (HWC indices) that fired at step t
}

// Count is the number of spikes over the window.
func (l LayerSpikes) Count() int {
	n := 0
	for _, s := range l.Times {
		n += len(s)
	}
	return n
}

// Rate is the firing rate: spikes per neuron per step (0 for an empty layer).
func (l LayerSpikes) Rate() float64 {
	if l.Neurons == 0 || len(l.Times) == 0 {
		return 0
	}
	return float64(l.Count()) / float64(l.Neurons) / float64(len(l.Times))
}

// SpikeRecord is one sample's pass through a network: the spikes of every layer
// that emits them and the output scores.
type SpikeRecord struct {
	Title  string        // what the sample is, e.g. "mnist test #7"
	T      int           // time steps of the window
	Layers []LayerSpikes // in network order
	Scores []float32     // output scores o (nil: no scores panel)
	Label  int           // true class, or -1 when unknown
}

// Predicted is the index of the first largest score, or -1 without scores.
func (r *SpikeRecord) Predicted() int {
	if len(r.Scores) == 0 {
		return -1
	}
	best := 0
	for i, v := range r.Scores {
		if v > r.Scores[best] {
			best = i
		}
	}
	return best
}

// Record runs sample x (index selects its evaluation input spikes, as in
// engine.Evaluate) through m on ws and returns the spikes of every layer that emits
// them: the spiking layers (conv, average pooling, hidden FC) and max pooling, which
// passes spikes on. Label is set to -1.
func Record(ws *engine.Workspace, m *engine.Model, x []float32, seed uint64, index int) (*SpikeRecord, error) {
	o, err := ws.Predict(m, x, seed, index)
	if err != nil {
		return nil, err
	}
	n := m.Net
	rec := &SpikeRecord{T: n.Config.T, Scores: o, Label: -1}
	for l, ly := range n.Layers {
		if !ly.Spiking && ly.Kind != engine.MaxPool {
			continue
		}
		ls := LayerSpikes{Name: ly.Name(), Text: ly.Text, Neurons: ly.Out.Size(), Times: make([][]int32, n.Config.T)}
		for t := range ls.Times {
			ls.Times[t] = append([]int32(nil), ws.SpikeTimes(l, t)...)
		}
		rec.Layers = append(rec.Layers, ls)
	}
	return rec, nil
}

// validate checks that r holds together.
func (r *SpikeRecord) validate() error {
	if r == nil || len(r.Layers) == 0 {
		return fmt.Errorf("%w: the spike record has no layers (a network without spiking layers, or no sample run)", ErrEmpty)
	}
	if r.T <= 0 {
		return fmt.Errorf("%w: T = %d time steps; want at least 1", ErrRecord, r.T)
	}
	for _, l := range r.Layers {
		if l.Neurons <= 0 {
			return fmt.Errorf("%w: layer %s has %d neurons; want at least 1", ErrRecord, l.Name, l.Neurons)
		}
		if len(l.Times) != r.T {
			return fmt.Errorf("%w: layer %s has spikes for %d steps; the window has T = %d", ErrRecord, l.Name, len(l.Times), r.T)
		}
		for t, s := range l.Times {
			for _, i := range s {
				if i < 0 || int(i) >= l.Neurons {
					return fmt.Errorf("%w: layer %s step %d: neuron %d is outside 0..%d", ErrRecord, l.Name, t, i, l.Neurons-1)
				}
			}
		}
	}
	if r.Label < -1 || (r.Label >= len(r.Scores) && len(r.Scores) > 0) {
		return fmt.Errorf("%w: label %d is not a class of the %d scores", ErrRecord, r.Label, len(r.Scores))
	}
	return nil
}

// Raster draws the spike raster of rec and writes it to w in format ("png" or
// "svg"): one panel per layer, top to bottom in network order, with a dot at (t,
// neuron) for every spike; below them the firing rate of each layer (spikes per
// neuron per step) and, when rec has scores, the output scores with the predicted
// class highlighted.
func Raster(rec *SpikeRecord, w io.Writer, format string) error {
	if _, err := normFormat(format); err != nil {
		return err
	}
	if err := rec.validate(); err != nil {
		return err
	}
	var rows [][]*plot.Plot
	for i, l := range rec.Layers {
		p, err := rasterPanel(l, rec.T, layerCols[i%len(layerCols)])
		if err != nil {
			return err
		}
		rows = append(rows, []*plot.Plot{p})
	}
	bottom := []*plot.Plot{nil}
	rp, err := ratePanel(rec)
	if err != nil {
		return err
	}
	bottom[0] = rp
	if len(rec.Scores) > 0 {
		sp, err := scorePanel(rec)
		if err != nil {
			return err
		}
		bottom = append(bottom, sp)
	}

	const width, head, panel, bars = 8 * vg.Inch, 0.7 * vg.Inch, 2 * vg.Inch, 2.6 * vg.Inch
	height := head + vg.Length(len(rows))*panel + bars
	c, err := newCanvas(format, width, height)
	if err != nil {
		return err
	}
	main := "Spike raster"
	if rec.Title != "" {
		main += " of " + rec.Title
	}
	sub := fmt.Sprintf("T = %d steps, %d layers with spikes", rec.T, len(rec.Layers))
	if p := rec.Predicted(); p >= 0 {
		sub += fmt.Sprintf("; predicted class %d", p)
		if rec.Label >= 0 {
			verdict := "right"
			if rec.Label != p {
				verdict = "wrong"
			}
			sub += fmt.Sprintf(", true label %d (%s)", rec.Label, verdict)
		}
	}
	title(c.dc, head, main, sub)
	tiles := draw.Tiles{Rows: len(rows), Cols: 1, PadY: 3 * vg.Millimeter,
		PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter, PadBottom: 3 * vg.Millimeter}
	top := band(c.dc, bars, height-head)
	for i, cv := range plot.Align(rows, tiles, top) {
		rows[i][0].Draw(cv[0])
	}
	tiles = draw.Tiles{Rows: 1, Cols: len(bottom), PadX: 8 * vg.Millimeter,
		PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadTop: 2 * vg.Millimeter}
	for i, cv := range plot.Align([][]*plot.Plot{bottom}, tiles, band(c.dc, 0, bars))[0] {
		bottom[i].Draw(cv)
	}
	return c.write(w)
}

// rasterPanel is the raster of one layer.
func rasterPanel(l LayerSpikes, T int, col color.Color) (*plot.Plot, error) {
	name := l.Name
	if l.Text != "" {
		name += " (" + l.Text + ")"
	}
	n := l.Count()
	p := newPlot(fmt.Sprintf("%s: %d neurons, %d spikes, firing rate %.4f", name, l.Neurons, n, l.Rate()),
		"time step t", "neuron index")
	p.Title.TextStyle.Font.Size = 10
	if n > 0 {
		xy := make(plotter.XYs, 0, n)
		for t, s := range l.Times {
			for _, i := range s {
				xy = append(xy, plotter.XY{X: float64(t), Y: float64(i)})
			}
		}
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, fmt.Errorf("plot: raster of %s: %w", l.Name, err)
		}
		s.Color = col
		s.Shape = draw.BoxGlyph{}
		// Dots as tall as a neuron's row (the data area is about 100 points high),
		// at least 0.6 points to stay visible and at most 2.5 to stay dots.
		s.Radius = vg.Points(min(2.5, max(0.6, 50/float64(l.Neurons))))
		p.Add(s)
	} else {
		p.Title.Text += " (silent)"
	}
	p.X.Min, p.X.Max = -0.5, float64(T)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(l.Neurons)-0.5
	if T <= 20 {
		p.X.Tick.Marker = intTicks{}
	}
	p.Y.Tick.Marker = intTicks{}
	return p, nil
}

// ratePanel is the bar chart of the firing rate of each layer.
func ratePanel(rec *SpikeRecord) (*plot.Plot, error) {
	rates := make(plotter.Values, len(rec.Layers))
	names := make([]string, len(rec.Layers))
	for i, l := range rec.Layers {
		rates[i] = l.Rate()
		names[i] = l.Name
	}
	p := newPlot("firing rate per layer", "", "spikes per neuron per step")
	for i, r := range rates {
		// One chart per bar, in the colour of the layer's raster.
		b, err := plotter.NewBarChart(plotter.Values{r}, vg.Points(22))
		if err != nil {
			return nil, fmt.Errorf("plot: firing rate of %s: %w", names[i], err)
		}
		b.XMin = float64(i)
		b.Color = layerCols[i%len(layerCols)]
		b.LineStyle.Width = 0
		p.Add(b)
	}
	p.NominalX(names...)
	p.Y.Min = 0
	if err := barLabels(p, rates, "%.3f"); err != nil {
		return nil, err
	}
	return p, nil
}

// scorePanel is the bar chart of the output scores, the predicted class in orange
// and the true label's tick marked.
func scorePanel(rec *SpikeRecord) (*plot.Plot, error) {
	pred := rec.Predicted()
	all := make(plotter.Values, len(rec.Scores))
	hi := make(plotter.Values, len(rec.Scores))
	names := make([]string, len(rec.Scores))
	for i, v := range rec.Scores {
		all[i] = float64(v)
		names[i] = strconv.Itoa(i)
		if i == rec.Label {
			names[i] += "*"
		}
	}
	hi[pred] = all[pred]
	t := "output scores o (orange: predicted"
	if rec.Label >= 0 {
		t += ", *: true label"
	}
	p := newPlot(t+")", "class", "score o")
	a, err := plotter.NewBarChart(all, vg.Points(12))
	if err != nil {
		return nil, fmt.Errorf("plot: scores: %w", err)
	}
	a.Color = grey
	a.LineStyle.Width = 0
	h, err := plotter.NewBarChart(hi, vg.Points(12))
	if err != nil {
		return nil, fmt.Errorf("plot: scores: %w", err)
	}
	h.Color = orange
	h.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), a, h)
	p.NominalX(names...)
	// Room above and below the bars, whose ends would otherwise touch the frame.
	lo, top := 0.0, 0.0
	for _, v := range all {
		lo, top = min(lo, v), max(top, v)
	}
	pad := 0.08 * max(top-lo, 1e-6)
	p.Y.Min, p.Y.Max = lo-pad*boolf(lo < 0), top+pad
	return p, nil
}

// boolf is 1 for true and 0 for false.
func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// barLabels writes each value above its bar.
func barLabels(p *plot.Plot, vs plotter.Values, format string) error {
	xy := plotter.XYLabels{XYs: make(plotter.XYs, len(vs)), Labels: make([]string, len(vs))}
	for i, v := range vs {
		xy.XYs[i] = plotter.XY{X: float64(i), Y: v}
		xy.Labels[i] = fmt.Sprintf(format, v)
	}
	l, err := plotter.NewLabels(xy)
	if err != nil {
		return fmt.Errorf("plot: bar labels: %w", err)
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = draw.XCenter
		l.TextStyle[i].Font.Size = 9
	}
	l.Offset = vg.Point{Y: vg.Points(2)}
	p.Add(l)
	// Leave room above the tallest bar for its label.
	hi := 0.0
	for _, v := range vs {
		hi = max(hi, v)
	}
	if hi > 0 {
		p.Y.Max = hi * 1.18
	}
	return nil
}

// intTicks labels integers only: every integer of a range of at most 20, or
// gonum's default ticks that fall on integers (neuron indices and time steps have
// no fractions).
type intTicks struct{}

// Ticks implements plot.Ticker.
func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	if hi-lo <= 20 {
		for v := math.Ceil(lo); v <= hi; v++ {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
		}
		return ts
	}
	for _, t := range (plot.DefaultTicks{}).Ticks(lo, hi) {
		if t.Value != math.Trunc(t.Value) {
			continue
		}
		if t.Label != "" {
			t.Label = strconv.Itoa(int(t.Value))
		}
		ts = append(ts, t)
	}
	return ts
}
