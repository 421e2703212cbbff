package coordinator

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/asfnet/asf/internal/job"
)

// Resuming with a changed configuration is an error listing every field that
// differs; resuming with the job id alone, or with the stored job itself,
// continues the stored job.
func TestResumeWithChangedJob(t *testing.T) {
	ctx := context.Background()
	store := t.TempDir() + "/asf.db"
	j := smallJob()
	start := func(c Config) error {
		co, err := New(ctx, c)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, _ = co.Run(cctx)
		return nil
	}
	if err := start(testConfig(t, j, store)); err != nil {
		t.Fatal(err)
	}
	changed := j
	changed.Optim.LR *= 2
	changed.Epochs++
	for _, tc := range []struct {
		name string
		job  func() Config
		want []string // nil: no error
	}{
		{"the same job", func() Config { return testConfig(t, j, store) }, nil},
		{"the id alone", func() Config { return testConfig(t, job.Job{ID: j.ID}, store) }, nil},
		{"the default job with the id", func() Config { d := job.Default(); d.ID = j.ID; return testConfig(t, d, store) }, nil},
		{"changed lr and epochs", func() Config { return testConfig(t, changed, store) }, []string{"epochs: stored 1, given 2", "optim.lr: stored"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.job()
			c.Resume = true
			err := start(c)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("resume: %v", err)
			case tc.want != nil && !errors.Is(err, ErrJobChanged):
				t.Fatalf("resume: %v, want ErrJobChanged", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q: %v", w, err)
				}
			}
		})
	}
}
