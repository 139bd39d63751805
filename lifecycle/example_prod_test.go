package lifecycle_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/zap"
)

// An HTTPServer is a provider: it listens when the runtime boots, serves
// under the runtime's gate, and shuts down inside the runtime's stop,
// after the gate has drained. The runtime's probes answer from its state.
func ExampleNewHTTPServer() {
	mux := http.NewServeMux()
	server := lifecycle.NewHTTPServer("http", &http.Server{Addr: "127.0.0.1:0", Handler: mux, ReadHeaderTimeout: time.Second})
	rt, err := lifecycle.New(nil, lifecycle.WithProviders(server), lifecycle.WithLogger(zap.NewNop()), lifecycle.WithoutSignals())
	if err != nil {
		panic(err)
	}
	mux.Handle("GET /readyz", rt.ReadinessHandler())

	readyz := func() {
		resp, err := http.Get(server.URL() + "/readyz")
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s", resp.StatusCode, body)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		panic(err)
	}
	readyz()
	rt.InitiateShutdown("deploy", nil, 0)
	readyz() // the probe answers outside the closed gate
	if err := rt.Stop(ctx); err != nil {
		panic(err)
	}
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// 200 {"state":"running","ready":true}
	// 503 {"state":"shutting down","ready":false}
}
