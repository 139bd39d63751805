package natsbridge_test

import (
	"fmt"
	"testing"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// notJSONOfOrder are payloads that are JSON, but not the JSON of an Order:
// encoding/json alone would make a zero or partial Order of each.
var notJSONOfOrder = []string{
	`null`,
	`{}`,
	`{"ID":"order-7"}`,                       // Items missing
	`{"Items":3}`,                            // ID missing
	`{"ID":"order-7","Items":3,"Rush":true}`, // a field Order has not
	`{"OrderID":"order-7","By":"eu"}`,        // an Ack
	`{"ID":7,"Items":3}`,                     // ID of another type
	`{"ID":"order-7","Items":"3"}`,           // Items of another type
	`{"ID":null,"Items":3}`,                  // null for a string
	`{"ID":"order-7","Items":null}`,          // null for an int
	`{"ID":"order-7","Items":3} {}`,          // a second value
	`["order-7",3]`,
	`"order-7"`,
}

// The JSON codec decodes only the JSON of E: each payload above is a
// decode failure, counted and logged with the subject, and the route goes
// on with the next message.
func TestJSONRejectsWhatIsNotJSONOfE(t *testing.T) {
	for _, p := range notJSONOfOrder {
		if got, err := (natsbridge.JSON[Order]{}).Decode([]byte(p)); err == nil {
			t.Errorf("Decode(%s) = %+v, nil; want an error", p, got)
		}
	}

	srv := runServer(t, -1)
	core, logs := observer.New(zap.ErrorLevel)
	bus := newBus(t, fxbus.WithLogger(zap.New(core)))
	c := connect(t, bus, natsbridge.Config{URL: srv.ClientURL()}, func(c *natsbridge.Conn) error {
		return natsbridge.Receive[Order](c, "orders.*")
	})
	sub := fxbus.Subscribe[Order](bus)
	defer sub.Close()
	raw := rawConn(t, srv.ClientURL())
	for _, p := range notJSONOfOrder {
		if err := raw.Publish("orders.eu", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Publish("orders.eu", []byte(`{"ID":"ok","Items":1}`)); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, sub); got != (Order{ID: "ok", Items: 1}) {
		t.Fatalf("got %+v first, want the one valid Order", got)
	}
	if s := statsOf(t, c, natsbridge.Inbound, "orders.*"); s.DecodeFailures != uint64(len(notJSONOfOrder)) || s.Received != 1 {
		t.Errorf("stats %+v, want %d decode failures and 1 received", s, len(notJSONOfOrder))
	}
	entries := logs.FilterMessageSnippet("cannot decode").All()
	if len(entries) != len(notJSONOfOrder) {
		t.Fatalf("%d decode failures logged, want %d", len(entries), len(notJSONOfOrder))
	}
	for _, e := range entries {
		if f := e.ContextMap(); f["subject"] != "orders.eu" || f["error"] == "" {
			t.Errorf("log fields %v, want the subject and the error", f)
		}
	}
}

// Note's field is omitted when empty: {} is the JSON of a Note.
type Note struct {
	Text string `json:"text,omitempty"`
}

// What the JSON codec encodes, it decodes to an equal value, whatever the
// fields json.Marshal leaves out; null is the JSON of a nil pointer.
func TestJSONDecodesWhatItEncodes(t *testing.T) {
	roundTrip(t, natsbridge.JSON[Order]{}, Order{}, Order{ID: "x", Items: -3})
	roundTrip(t, natsbridge.JSON[Note]{}, Note{}, Note{Text: "hi"})
	roundTrip(t, natsbridge.JSON[natsbridge.PeerShutdownEvent]{},
		natsbridge.PeerShutdownEvent{Origin: "o"}, natsbridge.PeerShutdownEvent{Origin: "o", Name: "n", Reason: "r", Cause: "c", ExitCode: 3})
	roundTrip(t, natsbridge.JSON[[]int]{}, nil, []int{1, 2})
	roundTrip(t, natsbridge.JSON[int]{}, 0, 7)
	var o *Order
	if got, err := (natsbridge.JSON[*Order]{}).Decode([]byte("null")); err != nil || got != o {
		t.Errorf("Decode(null) as *Order = %v, %v; want nil, nil", got, err)
	}
	if _, err := (natsbridge.JSON[int]{}).Decode([]byte("null")); err == nil {
		t.Errorf("Decode(null) as int: no error")
	}
}

func roundTrip[E any](t *testing.T, c natsbridge.Codec[E], evs ...E) {
	t.Helper()
	for _, ev := range evs {
		data, err := c.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(data)
		if err != nil {
			t.Errorf("Decode(%s) as %T: %v", data, ev, err)
			continue
		}
		if a, b := fmtValue(got), fmtValue(ev); a != b {
			t.Errorf("Decode(%s) = %s, want %s", data, a, b)
		}
	}
}

// The lenient JSON codec is encoding/json's own decoding: unknown fields
// are ignored, missing ones keep their zero value.
func TestJSONLenient(t *testing.T) {
	c := natsbridge.JSON[Order]{Lenient: true}
	for p, want := range map[string]Order{
		`{}`:                           {},
		`{"ID":"x"}`:                   {ID: "x"},
		`{"ID":"x","Items":2,"New":1}`: {ID: "x", Items: 2},
	} {
		if got, err := c.Decode([]byte(p)); err != nil || got != want {
			t.Errorf("lenient Decode(%s) = %+v, %v; want %+v", p, got, err, want)
		}
	}
	for _, p := range []string{`{"ID":7}`, `not json`, `{"ID":"x"} {}`} {
		if _, err := c.Decode([]byte(p)); err == nil {
			t.Errorf("lenient Decode(%s): no error", p)
		}
	}
}

func fmtValue(v any) string { return fmt.Sprintf("%#v", v) }

// The cost of strict decoding against encoding/json's own, on an event of
// the size of demo.Tick.
func BenchmarkJSONDecode(b *testing.B) {
	type tick struct {
		Seq    int64
		Source string
		At     int64
	}
	data := []byte(`{"Seq":123456,"Source":"throughput-send","At":1733230000000000000}`)
	for _, bc := range []struct {
		name  string
		codec natsbridge.JSON[tick]
	}{{"strict", natsbridge.JSON[tick]{}}, {"lenient", natsbridge.JSON[tick]{Lenient: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.codec.Decode(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
