package natsbridge_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test closes its connections and shuts its servers down and waits
// for them (server.WaitForShutdown, Conn.Close waits for the client's
// closed callback), so no goroutine of nats.go or nats-server may remain.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
