package natsbridge

import "github.com/nats-io/nats.go"

// SetOnHandle makes the inbound routes of c call f with each message
// before they handle it. Call it before c is started.
func SetOnHandle(c *Conn, f func(*nats.Msg)) { c.onHandle = f }
