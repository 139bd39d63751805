// Command jspeer is one process of natsbridge/durable's multi-process
// tests and quick start.
//
//	jspeer -url nats://127.0.0.1:4222 -role consume
//
// consume handles the demo.Job events of the durable consumer "workers"
// of the stream JOBS (which it creates if missing): it prints "ready" once
// consuming, then "handled <seq>" for each Job before acknowledging it,
// and stops on SIGINT/SIGTERM.
//
//	jspeer -url nats://127.0.0.1:4222 -role publish -n 5
//
// publish stores the Jobs 1 to n in JOBS (which it creates if missing)
// and prints "stored <seq> <stream seq>" for each, with " duplicate" when
// the server had already stored a Job of that number (within the
// stream's duplicate window), then exits.
//
//	jspeer -url nats://127.0.0.1:4222 -role singleton -id a -ttl 1s -renew 250ms
//
// singleton campaigns for the group "demo" of the bucket "leaders"; while
// leader it prints "start <token> <unix ns>", then "beat <token> <unix
// ns>" every 20ms, and "stop <token> <unix ns>" when its context ends. It
// stops on SIGINT/SIGTERM, giving leadership up.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/claviron/fxruntime/natsbridge/durable"
	"github.com/claviron/fxruntime/natsbridge/internal/demo"
	"github.com/claviron/fxruntime/natsbridge/leader"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

func main() {
	var (
		url           = flag.String("url", "nats://127.0.0.1:4222", "NATS server URL")
		role          = flag.String("role", "consume", "consume, publish or singleton")
		n             = flag.Int("n", 5, "publish: number of jobs")
		ackWait       = flag.Duration("ack-wait", 30*time.Second, "consume: AckWait")
		maxAckPending = flag.Int("max-ack-pending", 1000, "consume: MaxAckPending")
		id            = flag.String("id", "", "singleton: replica id")
		ttl           = flag.Duration("ttl", time.Second, "singleton: leadership TTL")
		renew         = flag.Duration("renew", 250*time.Millisecond, "singleton: renewal interval")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	nc, err := nats.Connect(*url, nats.MaxReconnects(-1))
	if err != nil {
		fail(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fail(err)
	}
	switch *role {
	case "consume":
		err = consume(ctx, js, *ackWait, *maxAckPending)
	case "publish":
		err = publish(ctx, js, *n)
	case "singleton":
		err = singleton(ctx, nc, *id, *ttl, *renew)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "jspeer:", err)
	os.Exit(1)
}

func consume(ctx context.Context, js jetstream.JetStream, ackWait time.Duration, maxAckPending int) error {
	if _, err := durable.EnsureStream(ctx, js, demo.JobsStream); err != nil {
		return err
	}
	log, _ := zap.NewProduction()
	c, err := durable.Consume(ctx, js, durable.ConsumerConfig{
		Stream: "JOBS", Durable: "workers", AckWait: ackWait, MaxAckPending: maxAckPending, Logger: log,
	}, func(_ context.Context, j demo.Job) error {
		_, err := fmt.Printf("handled %d\n", j.Seq)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Stop(sctx)
}

func publish(ctx context.Context, js jetstream.JetStream, n int) error {
	if _, err := durable.EnsureStream(ctx, js, demo.JobsStream); err != nil {
		return err
	}
	pub, err := durable.NewPublisher[demo.Job](js, demo.SubjectJobs)
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		ack, err := pub.Publish(ctx, demo.Job{Seq: i})
		if err != nil {
			return err
		}
		dup := ""
		if ack.Duplicate {
			dup = " duplicate"
		}
		fmt.Printf("stored %d %d%s\n", i, ack.Sequence, dup)
	}
	return nil
}

func singleton(ctx context.Context, nc *nats.Conn, id string, ttl, renew time.Duration) error {
	s, err := leader.New(leader.Client(nc), leader.Config{Bucket: "leaders", Group: "demo", ID: id, TTL: ttl, Renew: renew},
		func(ctx context.Context, token uint64) error {
			fmt.Printf("start %d %d\n", token, time.Now().UnixNano())
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					fmt.Printf("stop %d %d\n", token, time.Now().UnixNano())
					return nil
				case <-t.C:
					fmt.Printf("beat %d %d\n", token, time.Now().UnixNano())
				}
			}
		})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	return s.Run(ctx)
}
