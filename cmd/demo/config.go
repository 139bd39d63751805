package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// Config is the shop's configuration, read from a JSON file. Unknown
// fields are refused, so that a typo is an error rather than a silently
// ignored setting.
type Config struct {
	// Shop names the shop in the timeline.
	Shop string `json:"shop"`
	// OrderInterval is the time between two scheduled orders.
	OrderInterval Duration `json:"order_interval"`
	// OrdersPerBatch is how many orders the order task places after each
	// (re)load of the configuration.
	OrdersPerBatch int `json:"orders_per_batch"`
	// MaxWork caps the duration a /work request may ask for.
	MaxWork Duration `json:"max_work"`
}

// Duration is a time.Duration written in JSON as a string: "250ms".
type Duration time.Duration

// UnmarshalJSON reads a duration string such as "250ms" or "2s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"250ms\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// String prints the duration as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// validate checks the values; the error names every field at fault.
func (c Config) validate() error {
	var errs []error
	if c.Shop == "" {
		errs = append(errs, errors.New("shop must not be empty"))
	}
	if c.OrderInterval <= 0 {
		errs = append(errs, fmt.Errorf("order_interval must be positive, got %v", c.OrderInterval))
	}
	if c.OrdersPerBatch < 0 || c.OrdersPerBatch > 1000 {
		errs = append(errs, fmt.Errorf("orders_per_batch must be between 0 and 1000, got %d", c.OrdersPerBatch))
	}
	if c.MaxWork <= 0 {
		errs = append(errs, fmt.Errorf("max_work must be positive, got %v", c.MaxWork))
	}
	if len(errs) == 0 {
		return nil
	}
	msg := errs[0].Error()
	for _, e := range errs[1:] {
		msg += "; " + e.Error()
	}
	return errors.New(msg) // one line, unlike errors.Join
}

// String summarizes the configuration on one line.
func (c Config) String() string {
	return fmt.Sprintf("shop %q, %d orders every %v, max work %v",
		c.Shop, c.OrdersPerBatch, c.OrderInterval, c.MaxWork)
}

// loadConfig reads, decodes and validates the file at path. Its errors
// fit on one line and name the file.
func loadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err) // *PathError names the file
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config %s: unexpected data after the JSON object", path)
	}
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ConfigLoaded is emitted when the configuration provider boots.
type ConfigLoaded struct {
	File   string // base name of the file
	Config Config
}

// ConfigReloaded is emitted when a reload applied a new configuration.
// The order task reacts to it by placing a new batch.
type ConfigReloaded struct {
	File     string
	Old, New Config
}

// configProvider is the lifecycle provider that owns the configuration:
// it loads the file at boot, validates a candidate on reload and applies
// it only if every provider validated. It has no priority: every provider
// whose constructor takes it boots after it, as the runtime reads that
// dependency from the Fx graph, so each can read [configProvider.Current]
// from its own Boot on.
type configProvider struct {
	bus *fxbus.Bus

	current atomic.Pointer[Config] // the applied configuration; set by Boot and Reload
	path    atomic.Pointer[string] // the file to read; the tour swaps it

	// The runtime runs Validate then Reload on its reload goroutine, one
	// run at a time; mu guards candidate anyway, as Boot runs elsewhere.
	mu        sync.Mutex
	candidate *Config // decoded by the last successful Validate, applied by Reload
}

// newConfigProvider returns the provider for the file at path; the file
// is read by Boot.
func newConfigProvider(s settings, bus *fxbus.Bus) *configProvider {
	p := &configProvider{bus: bus}
	p.setPath(s.ConfigPath)
	return p
}

// Name implements lifecycle.Provider.
func (p *configProvider) Name() string { return "config" }

// Current returns the applied configuration. Safe from any goroutine.
func (p *configProvider) Current() Config { return *p.current.Load() }

// setPath changes the file that the next reload reads.
func (p *configProvider) setPath(path string) { p.path.Store(&path) }

// Boot loads and validates the configuration file.
func (p *configProvider) Boot(context.Context) error {
	path := *p.path.Load()
	c, err := loadConfig(path)
	if err != nil {
		return err
	}
	p.current.Store(&c)
	fxbus.Emit(p.bus, ConfigLoaded{File: filepath.Base(path), Config: c})
	return nil
}

// Validate reads and checks the file without applying it: a bad file
// fails the whole reload and the configuration in use is kept.
func (p *configProvider) Validate(context.Context) error {
	c, err := loadConfig(*p.path.Load())
	p.mu.Lock()
	defer p.mu.Unlock()
	p.candidate = nil
	if err != nil {
		return err
	}
	p.candidate = &c
	return nil
}

// Reload applies the configuration that Validate accepted.
func (p *configProvider) Reload(context.Context) error {
	p.mu.Lock()
	c := p.candidate
	p.candidate = nil
	p.mu.Unlock()
	if c == nil {
		return errors.New("no validated configuration to apply")
	}
	old := p.current.Swap(c)
	fxbus.Emit(p.bus, ConfigReloaded{File: filepath.Base(*p.path.Load()), Old: *old, New: *c})
	return nil
}

// configModule provides the configuration to the graph and registers it
// with the runtime.
var configModule = fx.Module("config",
	fx.Provide(newConfigProvider),
	lifecycle.ProviderOf[*configProvider](),
)
