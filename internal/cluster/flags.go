package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// EnvName is the environment variable that sets a command-line flag: ASF_ and
// the flag's name in upper case with dashes as underscores (--data-dir is
// ASF_DATA_DIR), the convention of every asf command.
func EnvName(flag string) string {
	return "ASF_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ApplyEnv sets every flag of fs that was not given on the command line from
// its ASF_* environment variable, if present.
func ApplyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// NewLogger builds a process logger writing to w: level debug, info, warn or
// error; format text or json.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// SetGossipAddrs applies "host:port" bind and advertise addresses (flags) to c;
// an empty advertise address keeps the bound one.
func (c *MembershipConfig) SetGossipAddrs(bind, advertise string) error {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return fmt.Errorf("gossip bind address %q: %w", bind, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	c.BindAddr = host
	if c.BindPort, err = strconv.Atoi(port); err != nil {
		return fmt.Errorf("gossip bind address %q: port: %w", bind, err)
	}
	if advertise == "" {
		return nil
	}
	host, port, err = net.SplitHostPort(advertise)
	if err != nil {
		return fmt.Errorf("gossip advertise address %q: %w", advertise, err)
	}
	c.AdvertiseAddr = host
	if c.AdvertisePort, err = strconv.Atoi(port); err != nil {
		return fmt.Errorf("gossip advertise address %q: port: %w", advertise, err)
	}
	return nil
}
