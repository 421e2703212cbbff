package worker

import (
	"errors"
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
