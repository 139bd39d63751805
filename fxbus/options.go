package fxbus

import (
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// An Option configures a [Bus] built by [New]. Options are checked once,
// by New: each may be given once, and an invalid value is an error naming
// the option.
type Option interface {
	apply(*config)
}

// config is what the options set, before New checks it.
type config struct {
	capacity int
	log      *zap.Logger
	given    map[string]int // how many times each option was given
}

type capacityOption int

func (o capacityOption) apply(c *config) {
	c.capacity = int(o)
	c.given["WithCapacity"]++
}

type loggerOption struct{ l *zap.Logger }

func (o loggerOption) apply(c *config) {
	c.log = o.l
	c.given["WithLogger"]++
}

// WithCapacity sets how many events of each type the bus retains, from 1 to
// [MaxCapacity]; the default is [DefaultCapacity]. A subscriber that falls
// more than n events behind on a type loses the oldest ones and is told how
// many with a [*LaggedError]. A ring takes n times (the event's size plus
// 16 bytes), allocated at the type's first subscription and rounded up by
// the allocator (by at most an eighth); the type's other bookkeeping adds
// about 300 bytes. With the default capacity and a 16-byte event that is
// 2.3 KB per type; benchmarks/README.md has the measured figures.
func WithCapacity(n int) Option { return capacityOption(n) }

// WithLogger sets the logger the bus writes to: a debug entry per Emit,
// warnings for lagging handlers, errors from handlers run by [Listen]. A nil
// logger, like the default, discards everything.
func WithLogger(l *zap.Logger) Option { return loggerOption{l} }

// newConfig applies opts over the defaults and checks the result.
func newConfig(opts []Option) (config, error) {
	c := config{capacity: DefaultCapacity, given: make(map[string]int)}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	var errs []error
	for _, name := range []string{"WithCapacity", "WithLogger"} {
		if n := c.given[name]; n > 1 {
			errs = append(errs, fmt.Errorf("fxbus: %s given %d times: give it once", name, n))
		}
	}
	if c.capacity < 1 || c.capacity > MaxCapacity {
		errs = append(errs, fmt.Errorf("fxbus: WithCapacity: capacity %d is out of range: want 1 to %d events per type", c.capacity, MaxCapacity))
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	return c, errors.Join(errs...)
}
