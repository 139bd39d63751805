package durable_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// The benchmarks compare the typed layer (impl=typed) with plain nats.go
// JetStream code doing the same work (impl=plain): encode the event as
// JSON, publish it with a message ID and wait for the server to store it;
// publish asynchronously with at most 256 unacknowledged; consume with a
// pull consumer, decode and acknowledge each message. The server is
// embedded, on loopback, with memory storage so that the disk's noise
// does not hide the layer's cost. Compare the two in one run:
//
//	go test -run '^$' -bench . -count 6 ./durable/ > bench.txt
//	benchstat -col /impl bench.txt

// Blob is the benchmarks' event: Body is 16 bytes or 1 KiB.
type Blob struct {
	Body string
}

var blobSizes = []struct {
	name string
	n    int
}{{"16B", 16}, {"1KiB", 1024}}

const benchSubject = "bench.blob"

// benchJS returns a JetStream client on an embedded server, and a function
// that makes the stream BENCH new and empty.
func benchJS(b *testing.B) (jetstream.JetStream, func()) {
	b.Helper()
	srv := runJS(b, "", -1)
	js := connectJS(b, srv.ClientURL())
	fresh := func() {
		ctx := ctxWait(b)
		if err := js.DeleteStream(ctx, "BENCH"); err != nil && !strings.Contains(err.Error(), "not found") {
			b.Fatal(err)
		}
		if _, err := durable.EnsureStream(ctx, js, durable.StreamConfig{
			Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.MemoryStorage,
		}); err != nil {
			b.Fatal(err)
		}
	}
	return js, fresh
}

func plainMsg(b *testing.B, ev Blob) *nats.Msg {
	data, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return &nats.Msg{Subject: benchSubject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: {nuid.Next()}}}
}

func BenchmarkPublishSync(b *testing.B) {
	js, fresh := benchJS(b)
	ctx := context.Background()
	for _, size := range blobSizes {
		ev := Blob{Body: strings.Repeat("x", size.n)}
		b.Run("size="+size.name+"/impl=typed", func(b *testing.B) {
			fresh()
			pub, err := durable.NewPublisher[Blob](js, benchSubject)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if _, err := pub.Publish(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("size="+size.name+"/impl=plain", func(b *testing.B) {
			fresh()
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if _, err := js.PublishMsg(ctx, plainMsg(b, ev)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPublishAsync(b *testing.B) {
	js, fresh := benchJS(b)
	nc := js.Conn()
	ctx := context.Background()
	const maxPending = 256
	for _, size := range blobSizes {
		ev := Blob{Body: strings.Repeat("x", size.n)}
		b.Run("size="+size.name+"/impl=typed", func(b *testing.B) {
			fresh()
			pub, err := durable.NewAsyncPublisher[Blob](nc, benchSubject, durable.AsyncConfig[Blob]{MaxPending: maxPending})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if err := pub.Publish(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			if err := pub.Flush(ctxWait(b)); err != nil {
				b.Fatal(err)
			}
			if st := pub.Stats(); st.Failed != 0 {
				b.Fatalf("%d failed", st.Failed)
			}
		})
		b.Run("size="+size.name+"/impl=plain", func(b *testing.B) {
			fresh()
			var failed atomic.Uint64
			ajs, err := jetstream.New(nc,
				jetstream.WithPublishAsyncMaxPending(maxPending),
				jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size.n))
			for b.Loop() {
				for {
					_, err := ajs.PublishMsgAsync(plainMsg(b, ev), jetstream.WithStallWait(50*time.Millisecond))
					if err == nil {
						break
					}
					if err != jetstream.ErrTooManyStalledMsgs {
						b.Fatal(err)
					}
				}
			}
			select {
			case <-ajs.PublishAsyncComplete():
			case <-time.After(wait):
				b.Fatal("acknowledgments missing")
			}
			if failed.Load() != 0 {
				b.Fatalf("%d failed", failed.Load())
			}
		})
	}
}

// BenchmarkConsume measures the consumption, decoding and acknowledgment
// of b.N events stored beforehand (outside the timer), one handler at a
// time.
func BenchmarkConsume(b *testing.B) {
	js, fresh := benchJS(b)
	for _, size := range blobSizes {
		ev := Blob{Body: strings.Repeat("x", size.n)}
		fill := func(b *testing.B) {
			b.StopTimer()
			fresh()
			pub, err := durable.NewAsyncPublisher[Blob](js.Conn(), benchSubject, durable.AsyncConfig[Blob]{})
			if err != nil {
				b.Fatal(err)
			}
			for range b.N {
				if err := pub.Publish(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
			}
			if err := pub.Flush(ctxWait(b)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size.n))
			b.StartTimer()
		}
		// typed decodes strictly (the default codec checks that the
		// payload is JSON of Blob, field by field, before decoding);
		// typed-lenient decodes as json.Unmarshal does, as the plain
		// side does, so that it measures the typed layer alone.
		for _, v := range []struct {
			name  string
			codec natsbridge.Codec[Blob]
		}{{"typed", natsbridge.JSON[Blob]{}}, {"typed-lenient", natsbridge.JSON[Blob]{Lenient: true}}} {
			b.Run("size="+size.name+"/impl="+v.name, func(b *testing.B) {
				fill(b)
				var n atomic.Int64
				done := make(chan struct{})
				c, err := durable.Consume(ctxWait(b), js, durable.ConsumerConfig{Stream: "BENCH", Durable: "bench"},
					func(_ context.Context, got Blob) error {
						if len(got.Body) != size.n {
							b.Errorf("body of %d bytes", len(got.Body))
						}
						if n.Add(1) == int64(b.N) {
							close(done)
						}
						return nil
					}, durable.WithCodec(v.codec))
				if err != nil {
					b.Fatal(err)
				}
				<-done
				b.StopTimer()
				if err := c.Stop(ctxWait(b)); err != nil {
					b.Fatal(err)
				}
			})
		}
		b.Run("size="+size.name+"/impl=plain", func(b *testing.B) {
			fill(b)
			cons, err := js.CreateConsumer(ctxWait(b), "BENCH", jetstream.ConsumerConfig{
				Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1000,
			})
			if err != nil {
				b.Fatal(err)
			}
			it, err := cons.Messages(jetstream.PullMaxMessages(10)) // what the typed consumer asks for with one handler
			if err != nil {
				b.Fatal(err)
			}
			// As the typed consumer does: a short first wait, then a Next
			// without bound, because nats.go's iterator may skip a pull
			// request and only a new Next call sends it (see next in
			// consume.go); a missed heartbeat is not fatal.
			next := func() (jetstream.Msg, error) {
				msg, err := it.Next(jetstream.NextMaxWait(20 * time.Millisecond))
				if errors.Is(err, nats.ErrTimeout) {
					return it.Next()
				}
				return msg, err
			}
			for range b.N {
				msg, err := next()
				for errors.Is(err, jetstream.ErrNoHeartbeat) {
					msg, err = next()
				}
				if err != nil {
					b.Fatal(err)
				}
				var got Blob
				if err := json.Unmarshal(msg.Data(), &got); err != nil || len(got.Body) != size.n {
					b.Fatalf("decode: %v, body of %d bytes", err, len(got.Body))
				}
				if err := msg.Ack(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			it.Stop()
			if err := js.Conn().FlushWithContext(ctxWait(b)); err != nil {
				b.Fatal(err)
			}
		})
	}
}
