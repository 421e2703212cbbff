package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/atomicfile"
	"github.com/asfnet/asf/internal/plot"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	xdraw "golang.org/x/image/draw"
)

func init() { rootCmd.AddCommand(newPredictCmd()) }

// sampleFlags choose one input: a PNG image or a sample of the job's data set.
type sampleFlags struct {
	image  string
	index  int
	split  string
	invert bool
	fs     *pflag.FlagSet
}

func (f *sampleFlags) register(fs *pflag.FlagSet, imageFlag bool) {
	f.fs = fs
	if imageFlag {
		fs.StringVar(&f.image, "image", "", "PNG image to classify (instead of --index)")
	}
	fs.IntVar(&f.index, "index", -1, "index of a sample of the job's data set (instead of an image)")
	fs.StringVar(&f.split, "split", "test", "split --index refers to: test or train")
	fs.BoolVar(&f.invert, "invert", false, "invert the image's gray levels: for dark strokes on a light background (MNIST digits are light on dark)")
}

// check says what is wrong with the combination of flags.
func (f *sampleFlags) check() error {
	switch {
	case f.image == "" && f.index < 0:
		return fmt.Errorf("choose a sample: an image (IMAGE.png) or --index N of the job's data set")
	case f.image != "" && f.index >= 0:
		return fmt.Errorf("give an image or --index, not both")
	case f.split != "test" && f.split != "train":
		return fmt.Errorf("--split %q: want test or train", f.split)
	case f.image != "" && f.fs != nil && f.fs.Changed("split"):
		return fmt.Errorf("--split applies to --index, not to an image")
	case f.invert && f.image == "":
		return fmt.Errorf("--invert applies to an image, not to --index")
	}
	return nil
}

// maxImagePixels bounds the size of an input image (64 megapixels, 512 MiB
// decoded at 8 bytes a pixel): far above any picture of a digit, and a guard
// against a decompression bomb.
const maxImagePixels = 64 << 20

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// otherFormats are the signatures of image formats people may pass by mistake.
var otherFormats = []struct {
	magic, name string
}{{"\xff\xd8\xff", "JPEG"}, {"GIF8", "GIF"}, {"BM", "BMP"}, {"RIFF", "WebP"}, {"II*\x00", "TIFF"}, {"MM\x00*", "TIFF"}, {"<svg", "SVG"}, {"<?xml", "SVG/XML"}}

// readImage reads a PNG image and converts it to an input of shape in for a network
// trained on data set ds:
//   - 1 channel (MNIST-like): gray levels by luma (a colour image is converted),
//     transparency composited over black; 3 channels (CIFAR-10): RGB (a gray image
//     is replicated);
//   - resized to in.W x in.H with a bilinear (tent) kernel, widened when shrinking
//     so that every source pixel counts (golang.org/x/image/draw.BiLinear);
//   - scaled to [0,1] (1 = white; inverted with invert), then, for cifar10,
//     normalised per channel with dataset.CIFAR10Mean and CIFAR10Std.
func readImage(path string, in engine.Shape, ds string, invert bool) (sample, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return sample{}, fmt.Errorf("image %s: no such file", path)
		}
		return sample{}, fmt.Errorf("image: %w", err)
	}
	if !bytes.HasPrefix(data, pngMagic) {
		kind := "not a PNG file"
		for _, o := range otherFormats {
			if bytes.HasPrefix(data, []byte(o.magic)) {
				kind = "a " + o.name + " image, not a PNG"
			}
		}
		head := data[:min(len(data), 8)]
		return sample{}, fmt.Errorf("image %s: %s (it starts with %q; want the PNG signature %q): convert it to PNG", path, kind, head, pngMagic)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return sample{}, fmt.Errorf("image %s: decoding the PNG header: %w", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return sample{}, fmt.Errorf("image %s: %dx%d pixels; at most %d pixels are read (the network takes %dx%d)", path, cfg.Width, cfg.Height, maxImagePixels, in.W, in.H)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return sample{}, fmt.Errorf("image %s: decoding the PNG: %w", path, err)
	}
	b := img.Bounds()
	if b.Dx() == 0 || b.Dy() == 0 {
		return sample{}, fmt.Errorf("image %s: %dx%d pixels; want at least 1x1", path, b.Dx(), b.Dy())
	}
	if in.C != 1 && in.C != 3 {
		return sample{}, fmt.Errorf("image %s: the network takes %d channels; images work for 1 (gray) or 3 (RGB)", path, in.C)
	}
	s := sample{label: -1, what: path}
	colour := hasColour(img)
	src := img
	switch {
	case in.C == 1 && colour:
		s.notes = append(s.notes, fmt.Sprintf("%dx%d colour image converted to gray levels (luma)", b.Dx(), b.Dy()))
		src = toGray(img)
	case in.C == 1:
		s.notes = append(s.notes, fmt.Sprintf("%dx%d gray image", b.Dx(), b.Dy()))
		src = toGray(img)
	case in.C == 3 && !colour:
		s.notes = append(s.notes, fmt.Sprintf("%dx%d gray image replicated to R, G and B", b.Dx(), b.Dy()))
	default:
		s.notes = append(s.notes, fmt.Sprintf("%dx%d colour image", b.Dx(), b.Dy()))
	}
	dst := image.NewRGBA64(image.Rect(0, 0, in.W, in.H))
	// Composite over black: transparent pixels become background (0), white with --invert.
	xdraw.BiLinear.Scale(dst, dst.Bounds(), src, b, xdraw.Src, nil)
	if b.Dx() != in.W || b.Dy() != in.H {
		s.notes = append(s.notes, fmt.Sprintf("resized to %dx%d (bilinear)", in.W, in.H))
	}
	s.x = make([]float32, in.Size())
	plane := in.H * in.W
	for y := 0; y < in.H; y++ {
		for x := 0; x < in.W; x++ {
			c := dst.RGBA64At(x, y)
			rgb := [3]uint16{c.R, c.G, c.B}
			for ch := 0; ch < in.C; ch++ {
				v := float32(rgb[ch]) / 0xffff
				if invert {
					v = 1 - v
				}
				if ds == "cifar10" {
					v = (v - dataset.CIFAR10Mean[ch]) / dataset.CIFAR10Std[ch]
				}
				s.x[ch*plane+y*in.W+x] = v
			}
		}
	}
	scale := "scaled to [0,1], white = 1"
	if invert {
		scale = "inverted and scaled to [0,1], black = 1"
	}
	if ds == "cifar10" {
		scale += ", normalised per channel like CIFAR-10"
	}
	s.notes = append(s.notes, scale)
	return s, nil
}

// hasColour reports whether any pixel of img has unequal R, G and B.
func hasColour(img image.Image) bool {
	switch img.ColorModel() {
	case color.GrayModel, color.Gray16Model:
		return false
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != g || g != bl {
				return true
			}
		}
	}
	return false
}

// toGray converts img to 16-bit gray levels (luma of the colour composited over black).
func toGray(img image.Image) *image.Gray16 {
	b := img.Bounds()
	g := image.NewGray16(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g.Set(x, y, color.Gray16Model.Convert(img.At(x, y)))
		}
	}
	return g
}

func newPredictCmd() *cobra.Command {
	var (
		weights, raster string
		sf              sampleFlags
	)
	cmd := &cobra.Command{
		Use:   "predict --weights FILE (IMAGE.png | --index N [--split test|train])",
		Short: "Classify one image or data set sample and show its class scores",
		Long: `Run one sample through a network saved by 'asf train --save FILE' (or 'asf checkpoint
export') and print the output scores o of every class, the predicted class and,
for a data set sample, its true label; with --raster, also write the sample's spike
raster and firing-rate plot (PNG or SVG).

The sample is a PNG image or --index N of the job's data set (--split test, the
default, or train; loaded from --data-dir). An image is converted to the network's
input: to gray levels for a one-channel network (a colour image by luma; pixels
composited over black), resized to the input size (28x28 for mnist) with a bilinear
kernel, and scaled to [0,1]. MNIST digits are white on black: for a dark digit on a
light background add --invert. The input spikes are drawn as in 'asf eval', for
sample index 0 for an image.`,
		Example: `  asf predict --weights lenet.safetensors --index 7
  asf predict --weights lenet.safetensors digit.png --invert --raster digit-raster.png`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				sf.image = args[0]
			}
			var rasterFormat string
			if raster != "" {
				var err error
				if rasterFormat, err = plot.FormatOf(raster); err != nil {
					return fmt.Errorf("--raster: %w", err)
				}
			}
			logger, err := newLogger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ls, err := loadWeightsAndSample(cmd.Context(), weights, &sf, globals.dataDir, logger)
			if err != nil {
				return err
			}
			rec, err := plot.Record(engine.NewWorkspace(ls.model.Net), ls.model, ls.s.x, ls.job.Seed, ls.s.index)
			if err != nil {
				return err
			}
			rec.Label, rec.Title = ls.s.label, ls.s.what
			printPrediction(cmd.OutOrStdout(), ls, rec)
			if raster != "" {
				if err := writeRaster(raster, rasterFormat, rec); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "raster plot: %s\n", raster)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "safetensors file with the weights and their job")
	cmd.Flags().StringVar(&raster, "raster", "", "also write the sample's spike raster to this .png or .svg file")
	sf.register(cmd.Flags(), false)
	return cmd
}

// printPrediction prints the scores, the predicted class and the firing rates.
func printPrediction(w io.Writer, ls *loadedSample, rec *plot.SpikeRecord) {
	n := ls.model.Net
	fmt.Fprintf(w, "weights: %s (job %s, %s, T = %d)\n", ls.path, ls.job.ID, n.Spec.Text, n.Config.T)
	fmt.Fprintf(w, "sample:  %s", ls.s.what)
	if ls.s.label >= 0 {
		fmt.Fprintf(w, ", label %d", ls.s.label)
	}
	fmt.Fprintln(w)
	if len(ls.s.notes) > 0 {
		fmt.Fprintf(w, "input:   %s\n", strings.Join(ls.s.notes, "; "))
	}
	pred := rec.Predicted()
	fmt.Fprintln(w, "\nclass  score o")
	for c, v := range rec.Scores {
		mark := ""
		if c == pred {
			mark = "  <- predicted"
		}
		if c == ls.s.label && c != pred {
			mark = "  <- true label"
		}
		fmt.Fprintf(w, "%5d  %8.4f%s\n", c, v, mark)
	}
	fmt.Fprintf(w, "\npredicted class: %d", pred)
	if ls.s.label >= 0 {
		verdict := "right"
		if pred != ls.s.label {
			verdict = "wrong"
		}
		fmt.Fprintf(w, " (true label %d: %s)", ls.s.label, verdict)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "firing rate (spikes per neuron per step):")
	for _, l := range rec.Layers {
		fmt.Fprintf(w, "  %-9s %-6s %.4f  (%d spikes)\n", l.Name, l.Text, l.Rate(), l.Count())
	}
}

// writeRaster writes rec's raster plot to path; a failed write leaves no file.
func writeRaster(path, format string, rec *plot.SpikeRecord) error {
	var buf bytes.Buffer
	if err := plot.Raster(rec, &buf, format); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

// writeFile writes data to path atomically.
func writeFile(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing the plot: %w", err)
	}
	return nil
}
