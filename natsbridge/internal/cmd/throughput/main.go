// Command throughput measures how many events of one bridged type
// (demo.Tick, about 60 bytes of JSON) go from one process to another per
// second over loopback: it starts an embedded NATS server on 127.0.0.1 and
// two copies of itself, a receiver and a sender, each with its own bus and
// natsbridge.Conn.
//
//	go run ./internal/cmd/throughput -n 500000
//
// The sender emits as fast as its outbound route keeps up (it waits when
// the route falls half the bus capacity behind, so nothing is missed
// locally), or at -rate events/s; the receiver counts the events emitted on its bus and reports
// the rate from the first to the last, and what was lost.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/internal/demo"
	"github.com/nats-io/nats-server/v2/server"
)

const capacity = 8192

func main() {
	var (
		role = flag.String("role", "", "internal: recv or send")
		url  = flag.String("url", "", "internal: server URL")
		n    = flag.Int("n", 500_000, "events to send")
		rate = flag.Int("rate", 0, "events/s the sender aims at; 0: as fast as its route forwards")
	)
	flag.Parse()
	var err error
	switch *role {
	case "":
		err = orchestrate(*n, *rate)
	case "recv":
		err = receive(*url, *n)
	case "send":
		err = send(*url, *n, *rate)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "throughput:", err)
		os.Exit(1)
	}
}

func orchestrate(n, rate int) error {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return err
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(5 * time.Second) {
		return errors.New("server not ready")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := func(role string) []string {
		return []string{"-role", role, "-url", srv.ClientURL(), "-n", fmt.Sprint(n), "-rate", fmt.Sprint(rate)}
	}

	recv := exec.CommandContext(ctx, exe, args("recv")...)
	recv.Stderr = os.Stderr
	out, err := recv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := recv.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		return fmt.Errorf("receiver did not get ready: %q", sc.Text())
	}
	sendOut, err := exec.CommandContext(ctx, exe, args("send")...).Output()
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	var recvOut strings.Builder
	for sc.Scan() {
		recvOut.WriteString(sc.Text() + "\n")
	}
	if err := recv.Wait(); err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	fmt.Printf("demo.Tick over loopback, JSON, one server, two processes\nsender:   %sreceiver: %s", sendOut, recvOut.String())
	return nil
}

func newBus() (*fxbus.Bus, error) { return fxbus.New(fxbus.WithCapacity(capacity)) }

func receive(url string, n int) error {
	bus, err := newBus()
	if err != nil {
		return err
	}
	defer bus.Close()
	sub := fxbus.Subscribe[demo.Tick](bus)
	defer sub.Close()
	ctx := context.Background()
	c, err := natsbridge.Connect(ctx, bus, natsbridge.Config{URL: url, Name: "throughput-recv"})
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if err := natsbridge.Receive[demo.Tick](c, demo.SubjectTicks); err != nil {
		return err
	}
	if err := c.NATS().Flush(); err != nil {
		return err
	}
	fmt.Println("ready")

	var (
		got         int
		lagged      uint64
		first, last time.Time
	)
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	for got < n {
		_, err := sub.TryRecv()
		var lag *fxbus.LaggedError
		switch {
		case err == nil:
			got++
			last = time.Now()
			if got == 1 {
				first = last
			}
			continue
		case errors.As(err, &lag):
			lagged += lag.Missed
			continue
		case !errors.Is(err, fxbus.ErrEmpty):
			return err
		}
		// Stop waiting 3s after the last event: the rest was lost.
		idle.Reset(3 * time.Second)
		select {
		case <-sub.Ready():
		case <-idle.C:
			n = got
		}
	}
	s := c.Stats()[0]
	secs := last.Sub(first).Seconds()
	fmt.Printf("received %d in %.2fs: %.0f events/s; lost: %d lagged on the bus, %d dropped by the client (slow consumer), %d decode failures\n",
		got, secs, float64(got-1)/secs, lagged, s.Dropped, s.DecodeFailures)
	return nil
}

func send(url string, n, rate int) error {
	bus, err := newBus()
	if err != nil {
		return err
	}
	defer bus.Close()
	ctx := context.Background()
	c, err := natsbridge.Connect(ctx, bus, natsbridge.Config{URL: url, Name: "throughput-send"})
	if err != nil {
		return err
	}
	if err := natsbridge.Forward[demo.Tick](c, demo.SubjectTicks); err != nil {
		return err
	}
	forwarded := func() int64 { s := c.Stats()[0]; return int64(s.Forwarded + s.Dropped) }
	start := time.Now()
	for i := range int64(n) {
		if i%256 == 0 {
			for i-forwarded() > capacity/2 {
				time.Sleep(20 * time.Microsecond)
			}
			if rate > 0 {
				due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(due))
			}
		}
		fxbus.Emit(bus, demo.Tick{Seq: i, Source: "throughput-send", At: time.Now().UnixNano()})
	}
	for forwarded() < int64(n) {
		time.Sleep(100 * time.Microsecond)
	}
	if err := c.Close(ctx); err != nil { // flushes
		return err
	}
	secs := time.Since(start).Seconds()
	s := c.Stats()[0]
	fmt.Printf("forwarded %d in %.2fs: %.0f events/s; dropped %d, missed %d\n", s.Forwarded, secs, float64(s.Forwarded)/secs, s.Dropped, s.Missed)
	return nil
}
