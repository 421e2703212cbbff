package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// SuggestFlags makes cmd and its subcommands answer an unknown flag with the
// flags of the same name within two edits, or that it begins or ends, as cobra
// does for unknown commands: `--epoch 3` gets "did you mean --epochs?".
func SuggestFlags(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		name, ok := unknownFlag(err.Error())
		if !ok {
			return err
		}
		if s := flagSuggestions(c.Flags(), name); len(s) > 0 {
			return fmt.Errorf("%w\ndid you mean %s? (%s --help lists the flags)", err, strings.Join(s, " or "), c.CommandPath())
		}
		return fmt.Errorf("%w (%s --help lists the flags)", err, c.CommandPath())
	})
}

// unknownFlag extracts the name from pflag's "unknown flag: --name".
func unknownFlag(msg string) (string, bool) {
	const p = "unknown flag: --"
	if !strings.HasPrefix(msg, p) {
		return "", false
	}
	name, _, _ := strings.Cut(msg[len(p):], "=")
	return name, name != ""
}

// flagSuggestions returns the flags of fs close to name, closest first.
func flagSuggestions(fs *pflag.FlagSet, name string) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		d := levenshtein(name, f.Name)
		if d > 2 && (len(name) < 3 || !strings.HasPrefix(f.Name, name) && !strings.HasSuffix(f.Name, name)) {
			return
		}
		cs = append(cs, cand{f.Name, d})
	})
	sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].name < cs[j].name })
	var out []string
	for i, c := range cs {
		if i == 3 {
			break
		}
		out = append(out, "--"+c.name)
	}
	return out
}

// levenshtein is the edit distance of a and b, a swap of two neighbouring
// letters counting as one edit (the optimal string alignment distance: the
// typo "epcoh" is two edits from "epochs").
func levenshtein(a, b string) int {
	pprev := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pprev[j-2]+1)
			}
		}
		pprev, prev, cur = prev, cur, pprev
	}
	return prev[len(b)]
}
