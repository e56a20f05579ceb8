package bench

import (
	"errors"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	if err := QuickConfig().Validate(); err != nil {
		t.Fatalf("QuickConfig: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"two local nodes", func(c *Config) { c.Nodes = 2 }, false},
		{"five remote nodes", func(c *Config) { c.Addrs, c.Nodes = []string{"127.0.0.1:1"}, 5 }, true},
		{"zero scale", func(c *Config) { c.Scale = 0 }, false},
		{"no load clients", func(c *Config) { c.LoadClients = 0 }, false},
		{"encoding", func(c *Config) { c.Encoding = "xml" }, false},
		{"json", func(c *Config) { c.Encoding = "json" }, true},
		{"consistency", func(c *Config) { c.Consistency = "eventual" }, false},
		{"stale", func(c *Config) { c.Consistency = "stale" }, true},
		{"no duration", func(c *Config) { c.Duration = 0 }, false},
		{"negative warmup", func(c *Config) { c.Warmup = -time.Second }, false},
		{"unknown workload", func(c *Config) { c.Workloads = []string{"w9"} }, false},
		{"some workloads", func(c *Config) { c.Workloads = []string{"r1", "m1"} }, true},
		{"zero clients", func(c *Config) { c.WriteClients = []int{16, 0} }, false},
		{"no open loop", func(c *Config) { c.MixRate = 0 }, true},
		{"negative rate", func(c *Config) { c.MixRate = -1 }, false},
		{"huge message", func(c *Config) { c.MessageBytes = 20000 }, false},
		{"no out", func(c *Config) { c.Out = "" }, false},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", tc.name, err)
		}
	}
}
