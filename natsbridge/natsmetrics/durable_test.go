package natsmetrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/claviron/fxruntime/natsbridge/internal/natstest"
	"github.com/claviron/fxruntime/natsbridge/natsmetrics"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const typeOrderQualified = "github.com/claviron/fxruntime/natsbridge/natsmetrics_test.Order"

// Order events carry their ID, so the consumer's log names them.
func (o Order) EventID() string { return o.ID }

// consumerKey is the key of a durable consumer's data points.
func consumerKey(stream, consumer, typ string) string {
	return key(attribute.NewSet(
		attribute.String("natsbridge.durable.stream", stream),
		attribute.String("natsbridge.durable.consumer", consumer),
		attribute.String("natsbridge.event.type", typ),
	))
}

// A known sequence on a real JetStream server: while the consumer's one
// handler holds the first message, the lag is read from the server
// (messages pending, and those delivered awaiting their acknowledgment,
// together the whole stream); then messages acknowledged, one redelivered
// after an error, one terminated by a permanent error, one that cannot be
// decoded; every counter of durable.Stats is exported
// with exactly the value the sequence makes. Once the connection is
// closed, the counters are still reported and the lag is not.
func TestDurableConsumerCountersFollowAKnownSequence(t *testing.T) {
	srv := natstest.RunServer(t, &server.Options{JetStream: true, StoreDir: t.TempDir()})
	// Closed by the test itself, at the end and waited for.
	closed := make(chan struct{})
	nc, err := nats.Connect(srv.ClientURL(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		nc.Close()
		<-closed
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := durable.EnsureStream(ctx, js, durable.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	pub, err := durable.NewPublisher[Order](js, "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	// More than the client fetches at a time while a handler holds one.
	ids := []string{"hold", "retry", "refuse"}
	for i := range 20 {
		ids = append(ids, fmt.Sprintf("ok-%d", i))
	}
	for _, id := range ids {
		if _, err := pub.Publish(ctx, Order{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "orders.placed", []byte("not json")); err != nil {
		t.Fatal(err)
	}

	entered, release := make(chan struct{}), make(chan struct{})
	failedOnce := false
	cons, err := durable.Consume(ctx, js, durable.ConsumerConfig{
		Stream: "ORDERS", Durable: "billing", Backoff: []time.Duration{time.Millisecond},
	}, func(ctx context.Context, o Order) error {
		switch o.ID {
		case "hold":
			close(entered)
			<-release
		case "retry":
			if !failedOnce { // one handler at a time: no lock needed
				failedOnce = true
				return errors.New("try again")
			}
		case "refuse":
			return durable.Permanent(errors.New("refused"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cons.Stop(context.Background()) }()
	mp, reader := newProvider(t)
	m, err := natsmetrics.NewConsumer(cons, natsmetrics.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}()

	k := consumerKey("ORDERS", "billing", typeOrderQualified)
	counters := func(s snapshot, delivered, redelivered, acked, retried, terminated, decode int64) {
		t.Helper()
		for name, v := range map[string]int64{
			"natsbridge.durable.delivered.messages":    delivered,
			"natsbridge.durable.redelivered.messages":  redelivered,
			"natsbridge.durable.acked.messages":        acked,
			"natsbridge.durable.retried.messages":      retried,
			"natsbridge.durable.terminated.messages":   terminated,
			"natsbridge.durable.decode.failures":       decode,
			"natsbridge.durable.newer_schema.messages": 0,
			"natsbridge.durable.returned.messages":     0,
		} {
			s.want(t, name, map[string]int64{k: v})
		}
	}
	// The handler holds the first message: the client has fetched a few
	// (delivered, awaiting their acknowledgment), the server holds the
	// rest. Nothing is settled.
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the handler did not get the first message")
	}
	const total = 24 // the orders and the undecodable message
	eventually(t, "the server reports the lag", func() bool {
		s := collect(t, reader)
		p, a := s["natsbridge.durable.pending.messages"][k], s["natsbridge.durable.ack_pending.messages"][k]
		return p > 0 && a > 0 && p+a == total
	})
	s := collect(t, reader)
	if d := s["natsbridge.durable.delivered.messages"][k]; d < 1 || d > total {
		t.Errorf("delivered %d while the first is held", d)
	}
	for _, name := range []string{"acked", "retried", "terminated", "redelivered"} {
		if v := s["natsbridge.durable."+name+".messages"][k]; v != 0 {
			t.Errorf("%s %d while the first is held", name, v)
		}
	}

	close(release)
	eventually(t, "every message settled", func() bool {
		s := collect(t, reader)
		return s["natsbridge.durable.acked.messages"][k] == 22 && s["natsbridge.durable.ack_pending.messages"][k] == 0 &&
			s["natsbridge.durable.decode.failures"][k] == 1 && s["natsbridge.durable.terminated.messages"][k] == 1
	})
	s = collect(t, reader)
	counters(s, total+1, 1, 22, 1, 1, 1)
	s.want(t, "natsbridge.durable.pending.messages", map[string]int64{k: 0})
	s.want(t, "natsbridge.durable.ack_pending.messages", map[string]int64{k: 0})

	if err := cons.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	<-closed
	s = collect(t, reader) // no error: a closed connection has no lag to give
	counters(s, total+1, 1, 22, 1, 1, 1)
	if p, ok := s["natsbridge.durable.pending.messages"][k]; ok {
		t.Errorf("pending reported as %d on a closed connection", p)
	}
}

// fakeConsumer returns fixed Stats and error.
type fakeConsumer struct {
	stats durable.Stats
	err   error
}

func (f fakeConsumer) Stats(context.Context) (durable.Stats, error) { return f.stats, f.err }

// A consumer not started yet reports its counters and no lag, without an
// error; a server that does not answer is an error of the collection,
// with the counters still reported.
func TestDurableConsumerWithoutLag(t *testing.T) {
	st := durable.Stats{Stream: "S", Consumer: "c", Type: "T", Delivered: 3, Acked: 2}
	k := consumerKey("S", "c", "T")
	for _, tc := range []struct {
		name, wantErr string
		err           error
	}{
		{"not started", "", fmt.Errorf("durable: consumer %q: %w", "c", durable.ErrNotStarted)},
		{"no answer", "no answer from the server", errors.New("durable: consumer \"c\": no answer from the server")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp, reader := newProvider(t)
			m, err := natsmetrics.NewConsumer(fakeConsumer{st, tc.err}, natsmetrics.WithMeterProvider(mp))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = m.Close() }()
			var rm metricdata.ResourceMetrics
			err = reader.Collect(context.Background(), &rm)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("collect: %v, want error %q", err, tc.wantErr)
			}
			got := map[string]int64{}
			for _, sm := range rm.ScopeMetrics {
				for _, md := range sm.Metrics {
					for _, p := range md.Data.(metricdata.Sum[int64]).DataPoints {
						if key(p.Attributes) == k {
							got[md.Name] = p.Value
						}
					}
				}
			}
			if got["natsbridge.durable.delivered.messages"] != 3 || got["natsbridge.durable.acked.messages"] != 2 {
				t.Errorf("counters %v, want delivered 3, acked 2", got)
			}
			if _, ok := got["natsbridge.durable.pending.messages"]; ok {
				t.Errorf("pending reported without an answer from the server: %v", got)
			}
		})
	}
}

func TestNewConsumerRefusesNil(t *testing.T) {
	if _, err := natsmetrics.NewConsumer(nil); err == nil || !strings.Contains(err.Error(), "got nil") {
		t.Errorf("err = %v", err)
	}
}
