package nir

import (
	"fmt"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/snapshot"
)

// ExportState returns the graph of a stored model (a checkpoint, or a safetensors
// file written by asf train --save) for inputs of shape in, with its job in the
// graph metadata.
func ExportState(st *checkpoint.State, in engine.Shape) (*Graph, error) {
	j, m, _, err := snapshot.Restore(st, in)
	if err != nil {
		return nil, err
	}
	return Export(m, ExportOptions{Job: string(j.JSON())})
}

// Job returns the job of an imported network: the job stored in the graph by
// asf's export if there is one, else base; with the imported spec and neuron
// settings in either case.
func (imp *Imported) Job(base job.Job) (job.Job, error) {
	j := base
	if s, ok := imp.Meta[MetaJob]; ok {
		var err error
		if j, err = job.Parse([]byte(s), base); err != nil {
			return base, fmt.Errorf("nir: the graph's %s metadata: %w", MetaJob, err)
		}
	}
	n := imp.Model.Net
	j.Spec = n.Spec.String()
	cfg := n.Config
	// Training settings are not part of the graph: keep the job's.
	cfg.Method, cfg.Surrogate, cfg.SurrogateSlope, cfg.ResetGrad = j.Neuron.Method, j.Neuron.Surrogate, j.Neuron.SurrogateSlope, j.Neuron.ResetGrad
	j.Neuron = cfg
	if err := j.Validate(); err != nil {
		return j, err
	}
	return j, nil
}

// State returns the model as a training state of job j (no optimizer state), for
// checkpoint.ExportSafetensors or the checkpoint store.
func (imp *Imported) State(j job.Job) *checkpoint.State {
	return snapshot.Capture(j, imp.Model, nil, snapshot.Position{}, checkpoint.Summary{})
}
