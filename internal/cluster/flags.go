package cluster

import (
	"fmt"
	"net"
	"strconv"
)

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
