package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/fx"
)

// /work answers 400 naming the bound for every ms outside it, however
// large: the bound is checked before the duration is computed.
func TestWorkRefusesDurationsOutsideTheBound(t *testing.T) {
	const configPath = "../../testdata/good.json"
	cfg, err := loadConfig(configPath)
	if err != nil {
		t.Fatal(err)
	}
	bound := fmt.Sprint(time.Duration(cfg.MaxWork).Milliseconds())

	// The demo's configuration and HTTP modules, served on loopback.
	var h *httpServer
	app := fx.New(fx.NopLogger, fxbus.Module, lifecycle.Module,
		lifecycle.With(lifecycle.WithoutSignals()),
		fx.Supply(settings{ConfigPath: configPath, Addr: "127.0.0.1:0"}),
		configModule, httpModule,
		fx.Populate(&h))
	if err := app.Err(); err != nil {
		t.Fatalf("fx.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("app.Stop: %v", err)
		}
	})
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)

	for _, tt := range []struct {
		ms     string
		status int
	}{
		{"1", http.StatusOK},
		// Refused before issue 10 already.
		{"0", http.StatusBadRequest},
		{"-1", http.StatusBadRequest},
		{"ten", http.StatusBadRequest},
		{fmt.Sprint(time.Duration(cfg.MaxWork).Milliseconds() + 1), http.StatusBadRequest},
		// ms*1e6 overflows int64.
		{"9223372036854775807", http.StatusBadRequest},
		{"288230376151711844", http.StatusBadRequest},
		{"9223372036855", http.StatusBadRequest},
	} {
		t.Run("ms="+tt.ms, func(t *testing.T) {
			resp, err := client.Get(h.URL() + "/work?ms=" + tt.ms)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("GET /work?ms=%s: %d %q, want %d", tt.ms, resp.StatusCode, body, tt.status)
			}
			if tt.status == http.StatusBadRequest && !strings.Contains(string(body), bound) {
				t.Fatalf("GET /work?ms=%s: body %q does not name the bound %s", tt.ms, body, bound)
			}
		})
	}
}
