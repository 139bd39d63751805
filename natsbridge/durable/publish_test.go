package durable_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats.go/jetstream"
)

// A publish retried with the same ID (the event's EventID) within the
// duplicate window is stored once, and the second acknowledgment says so.
func TestPublishRetriedWithSameIDIsStoredOnce(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	stream := ensureOrders(t, js)
	pub, err := durable.NewPublisher[Order](js, "orders.placed")
	if err != nil {
		t.Fatal(err)
	}
	first, err := pub.Publish(ctxWait(t), Order{ID: "o-1", Items: 2})
	if err != nil {
		t.Fatal(err)
	}
	again, err := pub.Publish(ctxWait(t), Order{ID: "o-1", Items: 2})
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !again.Duplicate || again.Sequence != first.Sequence {
		t.Errorf("acks %+v then %+v: want the second a duplicate of the first", first, again)
	}
	if _, err := pub.Publish(ctxWait(t), Order{ID: "o-2"}); err != nil {
		t.Fatal(err)
	}
	if n := msgCount(t, stream); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
}

// An event without an ID of its own gets a new one at each publish, and
// every message carries the Go type and schema version.
func TestPublishGeneratesIDsAndSetsTypeHeaders(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	stream := ensureOrders(t, js)
	pub, err := durable.NewPublisher[Note](js, "orders.notes")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if ack, err := pub.Publish(ctxWait(t), Note{Text: "same"}); err != nil || ack.Duplicate {
			t.Fatalf("publish: %+v, %v", ack, err)
		}
	}
	if n := msgCount(t, stream); n != 2 {
		t.Fatalf("stream holds %d messages, want 2", n)
	}
	var ids []string
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := stream.GetMsg(ctxWait(t), seq)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
		if got, want := m.Header.Get(durable.HeaderType), "github.com/claviron/fxruntime/natsbridge/durable_test.Note"; got != want {
			t.Errorf("type header %q, want %q", got, want)
		}
		if got := m.Header.Get(durable.HeaderSchema); got != "1" {
			t.Errorf("schema header %q, want 1", got)
		}
	}
	if ids[0] == "" || ids[0] == ids[1] {
		t.Errorf("message IDs %q: want two distinct generated IDs", ids)
	}
}

// A subject no stream stores makes Publish fail with an error naming the
// event, not hang or succeed.
func TestPublishErrorNamesTheEvent(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	pub, err := durable.NewPublisher[Order](js, "nowhere.placed")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxWait(t)
	start := time.Now()
	_, err = pub.Publish(ctx, Order{ID: "o-9"})
	var pe *durable.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a *PublishError", err, err)
	}
	if pe.MsgID != "o-9" || pe.Subject != "nowhere.placed" || !strings.HasSuffix(pe.Type, "durable_test.Order") {
		t.Errorf("error %+v does not name the event", pe)
	}
	if time.Since(start) >= wait {
		t.Errorf("publish took %v", time.Since(start))
	}
}

func TestNewPublisherRefusesBadSubjects(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	for _, s := range []string{"", "orders.*", "orders.>", "orders..x", ".orders", "orders.", "or ders"} {
		if _, err := durable.NewPublisher[Order](js, s); err == nil || !strings.Contains(err.Error(), "subject") {
			t.Errorf("subject %q: error %v, want one naming the subject", s, err)
		}
	}
	for _, s := range []string{"orders.placed", "a*b", "x>.y"} {
		if _, err := durable.NewPublisher[Order](js, s); err != nil {
			t.Errorf("subject %q: %v", s, err)
		}
	}
}

// A declared stream that exists with another configuration is an error
// naming the field; the stream is not changed.
func TestEnsureStreamMismatchNamesTheField(t *testing.T) {
	srv := runJS(t, "", -1)
	js := connectJS(t, srv.ClientURL())
	ensureOrders(t, js)
	if _, err := durable.EnsureStream(ctxWait(t), js, ordersStream); err != nil {
		t.Fatalf("binding with the same config: %v", err)
	}
	cases := []struct {
		field  string
		change func(*durable.StreamConfig)
	}{
		{"Subjects", func(c *durable.StreamConfig) { c.Subjects = []string{"orders.>", "refunds.>"} }},
		{"Retention", func(c *durable.StreamConfig) { c.Retention = jetstream.WorkQueuePolicy }},
		{"Storage", func(c *durable.StreamConfig) { c.Storage = jetstream.MemoryStorage }},
		{"Duplicates", func(c *durable.StreamConfig) { c.Duplicates = 2 * time.Minute }},
		{"MaxAge", func(c *durable.StreamConfig) { c.MaxAge = time.Hour }},
	}
	for _, tc := range cases {
		cfg := ordersStream
		tc.change(&cfg)
		_, err := durable.EnsureStream(ctxWait(t), js, cfg)
		var me *durable.MismatchError
		if !errors.As(err, &me) || me.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("changed %s: error %v, want a MismatchError naming it", tc.field, err)
		}
	}
	s, err := durable.BindStream(ctxWait(t), js, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config; got.Retention != jetstream.LimitsPolicy || got.MaxAge != 0 || len(got.Subjects) != 1 {
		t.Errorf("stream changed: %+v", got)
	}
	if _, err := durable.BindStream(ctxWait(t), js, "MISSING"); !errors.Is(err, durable.ErrStreamNotFound) {
		t.Errorf("binding a missing stream: %v, want ErrStreamNotFound", err)
	}
}
