package worker

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.Join = []string{"127.0.0.1:7946"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"ID", func(c *Config) { c.ID = "has space" }},
		{"ID", func(c *Config) { c.ID = "" }},
		{"Listen", func(c *Config) { c.Listen = "" }},
		{"Join", func(c *Config) { c.Join = nil }},
		{"Threads", func(c *Config) { c.Threads = -1 }},
		{"PollWait", func(c *Config) { c.PollWait = 0 }},
		{"RPCTimeout", func(c *Config) { c.RPCTimeout = 0 }},
		{"RetryMax", func(c *Config) { c.RetryMax = time.Millisecond }},
		{"LostAfter", func(c *Config) { c.LostAfter = 0 }},
		{"ReresolveEvery", func(c *Config) { c.ReresolveEvery = -time.Second }},
		{"ProbeTimeout", func(c *Config) { c.Gossip.ProbeTimeout = time.Hour }},
	} {
		c := good
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	c := good
	c.Join, c.Coordinator = nil, "127.0.0.1:7070"
	if err := c.Validate(); err != nil {
		t.Errorf("a coordinator address without gossip seeds: %v", err)
	}
	if err := (Config{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("zero config: %v", err)
	}
}

func TestDefaultID(t *testing.T) {
	for _, host := range []string{"my host", "", "-x", "ünïcode.example"} {
		id := sanitize(host)
		if !validID.MatchString(id + "-1") {
			t.Errorf("host %q gives id %q", host, id)
		}
	}
}

// Only an auto-detected gossip advertise address is looked up again.
func TestReresolves(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want bool
	}{
		{"default: all interfaces", func(*Config) {}, true},
		{"bind \"\"", func(c *Config) { c.Gossip.BindAddr = "" }, true},
		{"explicit gRPC advertise only", func(c *Config) { c.Advertise = "10.0.0.5:7071" }, true},
		{"explicit gossip advertise", func(c *Config) { c.Gossip.AdvertiseAddr = "10.0.0.5" }, false},
		{"bound to one address", func(c *Config) { c.Gossip.BindAddr = "10.0.0.5" }, false},
		{"loopback", func(c *Config) { *c = c.Loopback() }, false},
		{"disabled", func(c *Config) { c.ReresolveEvery = 0 }, false},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		if got := c.reresolves(); got != tc.want {
			t.Errorf("%s: reresolves() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The resolver's answer must be an IP address to advertise.
func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		out  string
		err  error
		want string // "" = an error
	}{
		{"10.1.2.3", nil, "10.1.2.3"},
		{"::ffff:10.1.2.3", nil, "10.1.2.3"},
		{"fd00::1", nil, "fd00::1"},
		{"", nil, ""},
		{"0.0.0.0", nil, ""},
		{"host.example", nil, ""},
		{"10.1.2.3", errors.New("no interfaces"), ""},
	} {
		w := &Worker{cfg: Config{Resolver: func() (string, error) { return tc.out, tc.err }}}
		ip, err := w.resolve()
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q: got %v, want an error", tc.out, ip)
		case tc.want != "" && (err != nil || !ip.Equal(net.ParseIP(tc.want)) || ip.String() != tc.want):
			t.Errorf("%q: got %v, %v, want %s", tc.out, ip, err, tc.want)
		case tc.err == nil && tc.want == "" && !errors.Is(err, ErrNoAddress):
			t.Errorf("%q: error %v is not ErrNoAddress", tc.out, err)
		}
	}
}
