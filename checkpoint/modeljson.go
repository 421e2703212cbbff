package checkpoint

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// ModelFormat is the version of the JSON model description ExportModelJSON writes.
const ModelFormat = 1

// ModelJSON is the JSON description of a network that ExportModelJSON writes: what
// another framework needs, besides the safetensors weights, to rebuild the model.
type ModelJSON struct {
	Format        string            `json:"format"`         // "asf-model"
	FormatVersion int               `json:"format_version"` // ModelFormat
	Job           string            `json:"job"`
	Spec          string            `json:"spec"`
	Layout        string            `json:"layout"`
	Semantics     map[string]string `json:"semantics"`
	Layers        []ModelLayer      `json:"layers"`
	Tensors       []ModelTensor     `json:"tensors"`
	Scales        []float64         `json:"scales"`
	Neuron        map[string]any    `json:"neuron,omitempty"` // threshold, leak, ... found in the config
	Seed          uint64            `json:"seed"`
	Epoch         int               `json:"epoch"`
	Step          int               `json:"step"`
	Optimizer     string            `json:"optimizer,omitempty"`
	LR            float64           `json:"lr"`
	Metrics       map[string]any    `json:"metrics"`
	Config        json.RawMessage   `json:"config,omitempty"` // the job's configuration: the recipe
}

// ModelLayer is one layer of the spec, in order, with the weight tensor it uses.
type ModelLayer struct {
	Token   string `json:"token"`             // the spec's token, e.g. "20C5"
	Op      string `json:"op"`                // conv, avgpool, maxpool, fc or unknown
	Out     int    `json:"out,omitempty"`     // output channels or features
	Kernel  int    `json:"kernel,omitempty"`  // conv kernel or pooling window
	Stride  int    `json:"stride,omitempty"`  // 1 for conv, the window for pooling
	Padding int    `json:"padding,omitempty"` // zero padding per side ("same": kernel/2 unless the token says pP)
	Weight  string `json:"weight,omitempty"`  // name of its weight tensor
	Bias    string `json:"bias,omitempty"`    // name of its bias tensor (tokens ending in b)
	Spiking bool   `json:"spiking"`           // followed by spiking neurons
	Output  bool   `json:"output,omitempty"`  // the last FC layer: integrates, never spikes
}

// ModelTensor names a weight tensor and its shape.
type ModelTensor struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Params int    `json:"params"`
}

var (
	convToken = regexp.MustCompile(`^(\d+)[Cc](\d+)(?:[Ss](\d+))?(?:[Pp](\d+))?([Bb])?$`)
	fcToken   = regexp.MustCompile(`^(\d+)(?:FC|fc)([Bb])?$`)
	poolToken = regexp.MustCompile(`^(M?)P(\d+)$`)
)

// DescribeModel builds the description ExportModelJSON writes.
func DescribeModel(st *State) (*ModelJSON, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	m := &ModelJSON{
		Format:        "asf-model",
		FormatVersion: ModelFormat,
		Job:           st.Job,
		Spec:          st.Spec,
		Layout:        "float32 little-endian, row-major; conv weights [out][in][kh][kw], FC weights [out][in]; biases [out] for layers whose token ends in b",
		Semantics: map[string]string{
			"conv":     "stride 1, same padding (kernel/2)",
			"avgpool":  "2x2 average, then pooling neurons (threshold 0.75 unless the config says otherwise)",
			"maxpool":  "2x2 max of spikes, no neurons",
			"neuron":   "V += I; spike if V > threshold (strict); hard reset to 0; V *= leak (1 = IF)",
			"output":   "last FC integrates only: o = V(T) / (T * threshold), prediction argmax(o)",
			"scales":   "ASF scale S_n per spiking layer (pooling neurons included), used by training only",
			"encoding": "see config (poisson: signed spikes with probability |x|*gain per step)",
		},
		Scales:    nonNil(st.Scales),
		Seed:      st.Seed,
		Epoch:     st.Epoch,
		Step:      st.Step,
		Optimizer: st.Optimizer.Name,
		LR:        finiteOrZero(st.Optimizer.LR),
		Metrics: map[string]any{
			"train_loss":      finiteOrNil(st.Metrics.TrainLoss),
			"train_acc":       finiteOrNil(st.Metrics.TrainAcc),
			"samples_per_sec": finiteOrNil(st.Metrics.SamplesPerSec),
		},
	}
	if st.Metrics.HasTest {
		m.Metrics["test_acc"] = finiteOrNil(st.Metrics.TestAcc)
	}
	for _, s := range st.Scales {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("%w: job %q: scale %v is not finite", ErrInvalidState, st.Job, s)
		}
	}
	for _, t := range st.Weights {
		m.Tensors = append(m.Tensors, ModelTensor{Name: t.Name, Shape: nonNil(t.Shape), Params: len(t.Data)})
	}
	m.Layers = describeSpec(st.Spec, st.Weights)
	if len(st.Config) > 0 && json.Valid(st.Config) {
		m.Config = json.RawMessage(st.Config)
		var cfg any
		if json.Unmarshal(st.Config, &cfg) == nil {
			m.Neuron = map[string]any{}
			findNeuronKeys(cfg, "", 0, m.Neuron)
			if len(m.Neuron) == 0 {
				m.Neuron = nil
			}
		}
	}
	return m, nil
}

// ExportModelJSON writes DescribeModel(st) as indented JSON to w.
func ExportModelJSON(st *State, w io.Writer) error {
	m, err := DescribeModel(st)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("checkpoint: model JSON: %w", err)
	}
	return nil
}

func finiteOrZero(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// describeSpec lists the spec's layers, giving each conv and FC layer the next
// weight tensor whose shape fits it.
func describeSpec(spec string, weights []Tensor) []ModelLayer {
	if spec == "" {
		return nil
	}
	tokens := strings.Split(spec, "-")
	layers := make([]ModelLayer, 0, len(tokens))
	next := 0
	take := func(fits func(Tensor) bool) string {
		if next < len(weights) && fits(weights[next]) {
			next++
			return weights[next-1].Name
		}
		return ""
	}
	lastFC := -1
	for i, tok := range tokens {
		l := ModelLayer{Token: tok, Op: "unknown"}
		if g := convToken.FindStringSubmatch(tok); g != nil {
			out, _ := strconv.Atoi(g[1])
			k, _ := strconv.Atoi(g[2])
			l = ModelLayer{Token: tok, Op: "conv", Out: out, Kernel: k, Stride: 1, Padding: k / 2, Spiking: true}
			if g[3] != "" {
				l.Stride, _ = strconv.Atoi(g[3])
			}
			if g[4] != "" {
				l.Padding, _ = strconv.Atoi(g[4])
			}
			l.Weight = take(func(t Tensor) bool {
				return len(t.Shape) == 4 && t.Shape[0] == out && t.Shape[2] == k && t.Shape[3] == k
			})
			if g[5] != "" {
				l.Bias = take(func(t Tensor) bool { return len(t.Shape) == 1 && t.Shape[0] == out })
			}
		} else if g := fcToken.FindStringSubmatch(tok); g != nil {
			out, _ := strconv.Atoi(g[1])
			l = ModelLayer{Token: tok, Op: "fc", Out: out, Spiking: true}
			l.Weight = take(func(t Tensor) bool { return len(t.Shape) == 2 && t.Shape[0] == out })
			if g[2] != "" {
				l.Bias = take(func(t Tensor) bool { return len(t.Shape) == 1 && t.Shape[0] == out })
			}
			lastFC = i
		} else if g := poolToken.FindStringSubmatch(tok); g != nil {
			k, _ := strconv.Atoi(g[2])
			l = ModelLayer{Token: tok, Op: "avgpool", Kernel: k, Stride: k, Spiking: true}
			if g[1] == "M" {
				l.Op, l.Spiking = "maxpool", false
			}
		}
		layers = append(layers, l)
	}
	if lastFC == len(layers)-1 {
		layers[lastFC].Spiking, layers[lastFC].Output = false, true
	}
	return layers
}

// neuronKeys are configuration keys (compared without case, "_" and "-") that
// describe the neuron model.
var neuronKeys = map[string]bool{
	"threshold": true, "vth": true, "poolthreshold": true, "vthpool": true, "leak": true,
	"timesteps": true, "t": true, "encoding": true, "gain": true, "inputgain": true,
	"reset": true, "vreset": true, "neuron": true, "neurons": true, "scaleevery": true, "hz": true,
}

func findNeuronKeys(v any, path string, depth int, out map[string]any) {
	obj, ok := v.(map[string]any)
	if !ok || depth > 3 {
		return
	}
	for k, val := range obj {
		p := k
		if path != "" {
			p = path + "." + k
		}
		norm := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(k))
		if sub, ok := val.(map[string]any); ok && (norm == "neuron" || norm == "neurons") {
			for k2, v2 := range sub { // a neuron section: all of it
				out[p+"."+k2] = v2
			}
			continue
		}
		if neuronKeys[norm] {
			out[p] = val
			continue
		}
		findNeuronKeys(val, p, depth+1, out)
	}
}
