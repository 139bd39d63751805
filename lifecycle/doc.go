// Package lifecycle is a runtime for Fx applications: it boots components
// in a set order, supervises background tasks, reloads on demand or on
// SIGHUP, admits and drains in-flight work, and shuts down gracefully,
// announcing every phase as a typed event on an [fxbus.Bus].
//
// It is the Go port of the lifecycle half of the Rust crate runtime-rs;
// dig and Fx are its service registry.
package lifecycle

import "github.com/claviron/fxruntime/fxbus"

var _ *fxbus.Bus // for the doc link
