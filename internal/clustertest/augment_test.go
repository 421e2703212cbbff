package clustertest

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/internal/local"
)

// With random crop and flip on, the cluster still gives bitwise the weights of the
// engine alone for any worker count: each sample's augmentation is a function of
// (seed, epoch, sample index), wherever it is trained.
func TestAugmentAcrossWorkerCounts(t *testing.T) {
	_, _, dir := reference(t)
	j := SmallJob()
	j.ID = "cluster-augment"
	j.Epochs = 1
	j.Augment = dataset.Augment{CropPad: 2, Flip: true}
	res, err := local.Run(context.Background(), j, local.Options{DataDir: dir, Threads: 2, NoTest: true})
	if err != nil {
		t.Fatal(err)
	}
	ref := res.Model.Digest()
	for _, w := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", w), func(t *testing.T) {
			rep, err := RunInProc(context.Background(), InProc{Job: j, DataDir: dir, StorePath: t.TempDir() + "/asf.db", Workers: w})
			if err != nil {
				t.Fatal(err)
			}
			if d := rep.Result.Final.Digest; d != ref {
				t.Fatalf("digest %s, the engine alone gives %s", hex.EncodeToString(d[:]), hex.EncodeToString(ref[:]))
			}
		})
	}
}
