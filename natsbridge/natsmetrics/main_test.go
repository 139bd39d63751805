package natsmetrics_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes its Conns and shuts its servers down and waits for
// them, so no goroutine of nats.go or nats-server may remain.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
