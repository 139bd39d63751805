package natsbridge

import "github.com/nats-io/nats.go"

// SetOnHandle makes the inbound routes of c call f with each message
// before they handle it. Call it before c is started.
func SetOnHandle(c *Conn, f func(*nats.Msg)) { c.onHandle = f }

// SetOnConnHandler makes the client of c run each of its connection
// handlers through f, with the connection and the handler's event
// ("disconnected", "reconnected", "closed"); f must call handle. Call it
// before c is started.
func SetOnConnHandler(c *Conn, f func(nc *nats.Conn, event string, handle func())) {
	c.onConnHandler = f
}
