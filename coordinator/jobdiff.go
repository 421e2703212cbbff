package coordinator

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/asfnet/asf/internal/job"
)

// ErrJobChanged means Resume was given a job configuration that differs from
// the stored one: resuming continues the stored job, so a changed learning
// rate, epoch count or network would otherwise be ignored without a word. The
// message lists every field that differs.
var ErrJobChanged = errors.New("coordinator: the job given with resume differs from the stored one")

// onlyID reports whether j carries nothing but its id: the zero job or the
// default one with that id (what a resume with just --job-id gives).
func onlyID(j job.Job) bool {
	d := job.Default()
	d.ID = j.ID
	return string(j.JSON()) == string(d.JSON()) || string(j.JSON()) == string(job.Job{ID: j.ID}.JSON())
}

// jobDiff lists the fields of given that differ from stored, as
// "optim.lr: stored 0.005, given 0.01", sorted by field.
func jobDiff(stored, given job.Job) []string {
	var a, b map[string]any
	_ = json.Unmarshal(stored.JSON(), &a)
	_ = json.Unmarshal(given.JSON(), &b)
	var out []string
	diffValues("", a, b, &out)
	slices.Sort(out)
	return out
}

func diffValues(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			diffValues(p, am[k], bm[k], out)
		}
		return
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		*out = append(*out, fmt.Sprintf("%s: stored %s, given %s", path, ja, jb))
	}
}

// checkResume fails with ErrJobChanged if given (the job of a resume) sets a
// configuration other than the stored one.
func checkResume(stored, given job.Job, store string) error {
	if onlyID(given) {
		return nil
	}
	if d := jobDiff(stored, given); len(d) > 0 {
		return fmt.Errorf("%w: %q in %s: %s (resume with only the job id to continue the stored job; start it afresh or under another id to train the new one)",
			ErrJobChanged, stored.ID, store, strings.Join(d, "; "))
	}
	return nil
}
