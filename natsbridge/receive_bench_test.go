package natsbridge

import (
	"sync/atomic"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/nats-io/nats.go"
)

// benchTick and benchTock are events of the size of demo.Tick.
type (
	benchTick struct {
		Seq    int64
		Source string
		At     int64
	}
	benchTock benchTick
)

// The cost of an inbound route's callback per message: echo check,
// strict JSON decode, count and emit on the bus. "serial" is one route;
// "parallel" runs the callbacks of two routes of two types at once, as
// the client does for two subscriptions.
func BenchmarkReceiveHandle(b *testing.B) {
	bus, err := fxbus.New()
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	c, err := New(bus, Config{URL: "nats://127.0.0.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close(b.Context()) }()
	if err := Receive[benchTick](c, "ticks"); err != nil {
		b.Fatal(err)
	}
	if err := Receive[benchTock](c, "tocks"); err != nil {
		b.Fatal(err)
	}
	tick := c.routes[0].(*receiver[benchTick])
	tock := c.routes[1].(*receiver[benchTock])
	data := []byte(`{"Seq":123456,"Source":"throughput-send","At":1733230000000000000}`)
	msg := func(subject string) *nats.Msg {
		return &nats.Msg{Subject: subject, Data: data, Header: nats.Header{HeaderOrigin: {"0123456789abcdef"}}}
	}
	handlers := []func(*nats.Msg){
		func(m *nats.Msg) { tick.handle(m, c.run) },
		func(m *nats.Msg) { tock.handle(m, c.run) },
	}
	msgs := []*nats.Msg{msg("ticks"), msg("tocks")}

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			handlers[0](msgs[0])
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int32
		b.SetParallelism(1)
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)-1) % 2
			h, m := handlers[i], msgs[i]
			for pb.Next() {
				h(m)
			}
		})
	})
}
