package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// An unknown flag is answered with the flags it is probably a typo of.
func TestSuggestFlags(t *testing.T) {
	newCmd := func() *cobra.Command {
		root := &cobra.Command{Use: "asf", SilenceUsage: true, SilenceErrors: true}
		root.PersistentFlags().String("data-dir", "", "")
		train := &cobra.Command{Use: "train", RunE: func(*cobra.Command, []string) error { return nil }}
		train.Flags().Int("epochs", 1, "")
		train.Flags().Int("time-steps", 20, "")
		train.Flags().String("encoding", "", "")
		root.AddCommand(train)
		SuggestFlags(root)
		return root
	}
	for _, tc := range []struct {
		args []string
		want string // "" = no error
	}{
		{[]string{"train", "--epochs", "2"}, ""},
		{[]string{"train", "--epoch", "3"}, "unknown flag: --epoch\ndid you mean --epochs? (asf train --help lists the flags)"},
		{[]string{"train", "--epcohs=3"}, "did you mean --epochs?"},
		{[]string{"train", "--epcoh", "3"}, "did you mean --epochs?"},
		{[]string{"train", "--data_dir", "x"}, "did you mean --data-dir?"},
		{[]string{"train", "--steps", "4"}, "did you mean --time-steps?"},
		{[]string{"train", "--zzz"}, "unknown flag: --zzz (asf train --help lists the flags)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := newCmd()
			cmd.SetArgs(tc.args)
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			err := cmd.Execute()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
