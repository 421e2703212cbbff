package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// EnvName is the environment variable that sets a command-line flag: ASF_ and
// the flag's name in upper case with dashes as underscores (--data-dir is
// ASF_DATA_DIR).
func EnvName(flag string) string {
	return "ASF_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// aliasKey is the annotation that marks a deprecated alias with the name of
// the flag it stands for.
const aliasKey = "asf-alias-of"

// Alias registers old as a deprecated alias of the flag named to, which must
// already be registered on fs: old sets the same value and is hidden from the
// help. ApplyEnv treats a given alias as its flag given and warns; Changed
// counts it as its flag given even without ApplyEnv.
func Alias(fs *pflag.FlagSet, old, to string) {
	f := fs.Lookup(to)
	if f == nil {
		panic(fmt.Sprintf("cli: Alias(%q, %q): no flag --%s", old, to, to))
	}
	fs.AddFlag(&pflag.Flag{Name: old, Usage: "deprecated: use --" + to, Value: f.Value, DefValue: f.DefValue,
		NoOptDefVal: f.NoOptDefVal, Hidden: true, Annotations: map[string][]string{aliasKey: {to}}})
}

// Changed reports whether the flag name, or a deprecated alias of it, was
// given (on the command line, or by ApplyEnv from the environment).
func Changed(fs *pflag.FlagSet, name string) bool {
	if fs.Changed(name) {
		return true
	}
	changed := false
	fs.VisitAll(func(f *pflag.Flag) {
		if to := target(fs, f); f.Changed && to != nil && to.Name == name {
			changed = true
		}
	})
	return changed
}

// target is the flag an alias stands for, or nil for a flag that is no alias.
func target(fs *pflag.FlagSet, f *pflag.Flag) *pflag.Flag {
	if to := f.Annotations[aliasKey]; len(to) == 1 {
		return fs.Lookup(to[0])
	}
	return nil
}

// ApplyEnv finishes fs after parsing: a deprecated alias given on the command
// line counts as its flag given (both given is an error), then every flag not
// given is set from its ASF_* environment variable, if present. An alias's
// variable (ASF_ID for --id) applies only when its flag's (ASF_JOB_ID) is
// absent, with a warning written to warn.
func ApplyEnv(fs *pflag.FlagSet, warn io.Writer) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		to := target(fs, f)
		if to == nil || !f.Changed {
			return
		}
		if to.Changed {
			errs = append(errs, fmt.Errorf("--%s and --%s both given: --%s is the deprecated name of --%s", f.Name, to.Name, f.Name, to.Name))
			return
		}
		to.Changed = true
		if warn != nil {
			fmt.Fprintf(warn, "flag --%s is deprecated, use --%s instead\n", f.Name, to.Name)
		}
	})
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || target(fs, f) != nil {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			// Set (not Value.Set) so that the flag counts as given.
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	fs.VisitAll(func(f *pflag.Flag) {
		to := target(fs, f)
		if to == nil || f.Changed || to.Changed {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if err := to.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, err))
			return
		}
		f.Changed, to.Changed = true, true
		if warn != nil {
			fmt.Fprintf(warn, "environment %s is deprecated, use %s instead\n", EnvName(f.Name), EnvName(to.Name))
		}
	})
	return errors.Join(errs...)
}

// FlagNames lists the names of cmd's flags under their current names
// (deprecated aliases left out): what an ASF_* variable in a deployment
// manifest may set.
func FlagNames(cmd *cobra.Command) []string {
	var out []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			out = append(out, f.Name)
		}
	})
	return out
}
