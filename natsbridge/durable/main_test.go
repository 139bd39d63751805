package durable_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes its connections and shuts its servers down, and every
// Consumer is stopped, so no goroutine of nats.go, nats-server or this
// package may remain.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
