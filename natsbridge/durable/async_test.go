package durable_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/nats-io/nats.go"
)

func natsConn(t testing.TB, url string) *nats.Conn {
	t.Helper()
	return connectJS(t, url).Conn()
}

// Every event published asynchronously is stored, at most MaxPending
// awaiting acknowledgment at a time; one published twice with the same
// ID is stored once and counted as a duplicate.
func TestAsyncPublisherStoresEveryEvent(t *testing.T) {
	srv := runJS(t, "", -1)
	nc := natsConn(t, srv.ClientURL())
	js := connectJS(t, srv.ClientURL())
	stream := ensureOrders(t, js)
	pub, err := durable.NewAsyncPublisher(nc, "orders.placed", durable.AsyncConfig[Order]{MaxPending: 16})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		if err := pub.Publish(ctxWait(t), Order{ID: strconv.Itoa(i), Items: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish(ctxWait(t), Order{ID: "7"}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctxWait(t)); err != nil {
		t.Fatal(err)
	}
	if st := pub.Stats(); st.Published != n+1 || st.Stored != n+1 || st.Duplicates != 1 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
	if got := msgCount(t, stream); got != n {
		t.Errorf("stream holds %d, want %d", got, n)
	}
}

// An event the server does not store reaches OnError, named, and is
// counted: nothing fails silently.
func TestAsyncPublisherReportsFailuresWithTheEvent(t *testing.T) {
	srv := runJS(t, "", -1)
	nc := natsConn(t, srv.ClientURL())
	ensureOrders(t, connectJS(t, srv.ClientURL()))
	var (
		mu     sync.Mutex
		failed []Order
		errs   []*durable.PublishError
	)
	pub, err := durable.NewAsyncPublisher(nc, "nowhere.placed", durable.AsyncConfig[Order]{
		OnError: func(o Order, err *durable.PublishError) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, o)
			errs = append(errs, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctxWait(t), Order{ID: "lost", Items: 3}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctxWait(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 1 || failed[0] != (Order{ID: "lost", Items: 3}) || errs[0].MsgID != "lost" || errs[0].Subject != "nowhere.placed" {
		t.Fatalf("OnError got %+v, %v", failed, errs)
	}
	if st := pub.Stats(); st.Failed != 1 || st.Stored != 0 {
		t.Errorf("stats %+v", st)
	}
}
