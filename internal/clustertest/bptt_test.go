package clustertest

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/local"
)

// TestBPTTDeterminismAcrossWorkerCounts: a BPTT job (the method travels in the
// job's neuron settings) ends with bitwise the same weights on 1 and 3 workers
// as the engine alone, and not with ASF-BP's.
func TestBPTTDeterminismAcrossWorkerCounts(t *testing.T) {
	asfRef, n, dir := reference(t)
	j := SmallJob()
	j.ID = "cluster-test-bptt"
	j.Epochs = 1
	j.Neuron.Method = engine.BPTT
	j.Neuron.Surrogate = engine.FastSigmoid
	res, err := local.Run(context.Background(), j, local.Options{DataDir: dir, Threads: 2, NoTest: true})
	if err != nil {
		t.Fatal(err)
	}
	ref := res.Model.Digest()
	if ref == asfRef {
		t.Fatal("the BPTT job trains the same weights as the ASF-BP job: the method is not used")
	}
	for _, w := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", w), func(t *testing.T) {
			rep, err := RunInProc(context.Background(), InProc{Job: j, DataDir: dir, StorePath: t.TempDir() + "/asf.db", Workers: w})
			if err != nil {
				t.Fatal(err)
			}
			if d := rep.Result.Final.Digest; d != ref {
				t.Fatalf("digest %s, the engine alone gives %s", hex.EncodeToString(d[:]), hex.EncodeToString(ref[:]))
			}
			if err := CheckAccounting(rep.Result, j, n); err != nil {
				t.Fatal(err)
			}
		})
	}
}
