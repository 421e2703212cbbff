package recipes_test

import (
	"fmt"

	"github.com/asfnet/asf/recipes"
)

// A recipe is a whole job; fields can be changed before training it.
func ExampleGet() {
	j, err := recipes.Get("paper-mnist-if")
	if err != nil {
		panic(err)
	}
	j.Epochs = 40 // as `asf train --recipe paper-mnist-if --epochs 40`
	fmt.Println(j.Dataset, j.Spec, "T =", j.Neuron.T, "lr =", j.Optim.LR, "milestones =", j.Optim.Milestones, "epochs =", j.Epochs)
	// Output: mnist 20C5-P2-50C5-P2-200FC-10FC T = 100 lr = 0.00085 milestones = [25] epochs = 40
}
