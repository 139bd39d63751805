package leader_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/claviron/fxruntime/natsbridge/leader"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// One process campaigns for the group "cleanup", wins it with the fencing
// token 1 (the key's first revision), runs its task, and gives leadership
// up when its context ends.
func Example() {
	dir, err := os.MkdirTemp("", "leader-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: dir})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		panic("nats server not ready")
	}
	defer srv.WaitForShutdown()
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()

	ctx, stop := context.WithCancel(context.Background())
	s, err := leader.New(leader.Client(nc), leader.Config{Bucket: "leaders", Group: "cleanup", ID: "replica-a", TTL: 3 * time.Second},
		func(ctx context.Context, token uint64) error {
			fmt.Println("cleaning up as leader, fencing token", token)
			stop() // a real task runs until ctx is done: leadership lost or shutdown
			<-ctx.Done()
			return nil
		})
	if err != nil {
		panic(err)
	}
	fmt.Println("Run:", s.Run(ctx))
	// Output:
	// cleaning up as leader, fencing token 1
	// Run: <nil>
}
