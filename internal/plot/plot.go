// Package plot draws what people look at after training a spiking network: the
// training curves of a job's metrics history (loss and accuracy against the step or
// epoch) and, for one sample run through a network, a spike raster of every spiking
// layer with the firing rate of each layer and the output scores. Figures are
// written as PNG or SVG with gonum.org/v1/plot.
//
// The caller's loop:
//
//  1. Curves: read the history with checkpoint.Store.Metrics(job) and pass it to
//     TrainingCurves with a writer and a format ("png" or "svg"; FormatOf maps a
//     file name to it).
//  2. Raster: build the network and model, run one sample with Record (it calls
//     engine.Workspace.Predict and collects Workspace.SpikeTimes for every layer that
//     emits spikes), set SpikeRecord.Title and Label, and pass it to Raster.
//
// Both functions check their input first: nothing to draw gives ErrEmpty, an
// unknown format ErrFormat, an inconsistent spike record ErrRecord.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

var (
	// ErrEmpty is returned when there is nothing to plot.
	ErrEmpty = errors.New("plot: nothing to plot")
	// ErrFormat is returned for an output format other than PNG or SVG.
	ErrFormat = errors.New("plot: unsupported format")
	// ErrRecord is returned for a spike record that does not hold together (steps,
	// neuron indices, sizes).
	ErrRecord = errors.New("plot: invalid spike record")
)

// Formats lists the output formats, as FormatOf returns them.
var Formats = []string{"png", "svg"}

// PNGDPI is the resolution of PNG output: sharp on high-density screens while a
// figure stays well under a megabyte.
const PNGDPI = 144

// FormatOf returns the format of an output file from its extension: "png" or "svg"
// (case-insensitive).
func FormatOf(path string) (string, error) {
	ext := filepath.Ext(path)
	f, err := normFormat(ext)
	if err != nil {
		return "", fmt.Errorf("%w: %s has extension %q; want .png or .svg", ErrFormat, path, ext)
	}
	return f, nil
}

// normFormat accepts "png", ".PNG", "svg", ... and returns "png" or "svg".
func normFormat(format string) (string, error) {
	f := strings.ToLower(strings.TrimPrefix(format, "."))
	for _, ok := range Formats {
		if f == ok {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w %q: want png or svg", ErrFormat, format)
}

// canvas is a drawing surface of w x h in format, painted white.
type canvas struct {
	vg.CanvasWriterTo
	dc draw.Canvas
}

func newCanvas(format string, w, h vg.Length) (*canvas, error) {
	f, err := normFormat(format)
	if err != nil {
		return nil, err
	}
	var c vg.CanvasWriterTo
	if f == "png" {
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(PNGDPI))}
	} else {
		c = vgsvg.New(w, h)
	}
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	return &canvas{CanvasWriterTo: c, dc: dc}, nil
}

// below returns the part of dc under its top h.
func below(dc draw.Canvas, h vg.Length) draw.Canvas {
	dc.Max.Y -= h
	return dc
}

// band returns the horizontal band of dc from y0 to y1 (from the bottom).
func band(dc draw.Canvas, y0, y1 vg.Length) draw.Canvas {
	dc.Min.Y, dc.Max.Y = dc.Min.Y+y0, dc.Min.Y+y1
	return dc
}

// title writes a figure title (and an optional smaller subtitle) centred in the
// top h of dc.
func title(dc draw.Canvas, h vg.Length, main, sub string) {
	sty := text.Style{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 15),
		XAlign:  draw.XCenter,
		YAlign:  draw.YTop,
		Handler: plot.DefaultTextHandler,
	}
	x := (dc.Min.X + dc.Max.X) / 2
	y := dc.Max.Y - h*0.15
	dc.FillText(sty, vg.Point{X: x, Y: y}, main)
	if sub != "" {
		sty.Font = font.From(plot.DefaultFont, 10)
		sty.Color = color.Gray{Y: 60}
		dc.FillText(sty, vg.Point{X: x, Y: y - 19}, sub)
	}
}

// write writes c to w.
func (c *canvas) write(w io.Writer) error {
	if _, err := c.WriteTo(w); err != nil {
		return fmt.Errorf("plot: writing the figure: %w", err)
	}
	return nil
}

// Colours of the series (the tab10 palette): distinct, and readable by most
// colour-blind readers.
var (
	blue      = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	lightBlue = color.RGBA{0xae, 0xc7, 0xe8, 0xff}
	orange    = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
	lightOrg  = color.RGBA{0xff, 0xbb, 0x78, 0xff}
	green     = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	red       = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	grey      = color.RGBA{0x7f, 0x7f, 0x7f, 0xff}
	layerCols = []color.RGBA{blue, orange, green, red, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff}}
)

// newPlot returns a plot with a light grid and the given labels.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 11
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	return p
}
