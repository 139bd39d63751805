package natsbridge_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/claviron/fxruntime/fxbus"
	"github.com/claviron/fxruntime/natsbridge"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

// Two Fx apps on one server: orders go from the shop to the warehouse,
// acks come back, and when the shop stops, the warehouse learns it from a
// PeerShutdown that was published before the shop's connection drained.
func TestModuleTwoApps(t *testing.T) {
	srv := runServer(t, -1)
	var (
		shopBus, whBus *fxbus.Bus
		shopConn       *natsbridge.Conn
	)
	shop := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "shop"}),
		natsbridge.BridgeOut[Order]("orders"),
		natsbridge.BridgeIn[Ack]("acks"),
		natsbridge.BridgeShutdown("fleet.shutdown"),
		fx.Populate(&shopBus, &shopConn),
	)
	warehouse := fxtest.New(t,
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: srv.ClientURL(), Name: "warehouse"}),
		natsbridge.Bridge[Order]("orders"), // both ways: the shop ignores what comes back
		natsbridge.BridgeOut[Ack]("acks"),
		natsbridge.BridgeShutdown("fleet.shutdown"),
		fx.Invoke(func(lc fx.Lifecycle, bus *fxbus.Bus) {
			fxbus.Listen(lc, bus, func(_ context.Context, o Order) error {
				fxbus.Emit(bus, Ack{OrderID: o.ID, By: "warehouse"})
				return nil
			})
		}),
		fx.Populate(&whBus),
	)
	acks := fxbus.Subscribe[Ack](shopBus)
	defer acks.Close()
	peers := fxbus.Subscribe[natsbridge.PeerShutdownEvent](whBus)
	defer peers.Close()
	shop.RequireStart()
	defer shop.RequireStop()
	warehouse.RequireStart()
	defer warehouse.RequireStop()

	fxbus.Emit(shopBus, Order{ID: "A-1", Items: 2})
	if got, want := recv(t, acks), (Ack{OrderID: "A-1", By: "warehouse"}); got != want {
		t.Fatalf("shop got %+v, want %+v", got, want)
	}

	shop.RequireStop()
	got := recv(t, peers)
	if got.Origin != shopConn.Origin() || got.Name != "shop" || got.Reason != "fx: application stopping" {
		t.Errorf("warehouse got %+v, want the shop's stop", got)
	}
}

func TestModuleStartFailsNamingURL(t *testing.T) {
	port := freePort(t)
	url := "nats://127.0.0.1:" + itoa(port)
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: url}),
		natsbridge.Bridge[Order]("orders"),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err := app.Start(ctx)
	if err == nil {
		_ = app.Stop(ctx)
		t.Fatal("started without a server")
	}
	if !strings.Contains(err.Error(), url) {
		t.Errorf("start error %q does not name %s", err, url)
	}
}

func TestModuleNeedsConfig(t *testing.T) {
	app := fx.New(fx.NopLogger, fxbus.Module, natsbridge.Module, natsbridge.Bridge[Order]("orders"))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "natsbridge.Config") {
		t.Errorf("err = %v, want a missing natsbridge.Config", err)
	}
}

// shopApp is an Fx application that forwards Orders to "orders" over the
// connection opts configure, and hands out its bus.
func shopApp(t *testing.T, url string, bus **fxbus.Bus, opts ...fx.Option) *fx.App {
	t.Helper()
	return fx.New(append([]fx.Option{
		fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		fx.Supply(natsbridge.Config{URL: url, Name: "shop", ConnectTimeout: time.Second}),
		natsbridge.BridgeOut[Order]("orders"),
		fx.Populate(bus),
	}, opts...)...)
}

// startApp starts app, stopped at the end of the test, and returns the
// start's error.
func startApp(t *testing.T, app *fx.App) error {
	t.Helper()
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		return err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return nil
}

// checkOrdersArrive checks that an Order emitted on bus reaches a Conn
// that receives "orders" from the server at url with opts.
func checkOrdersArrive(t *testing.T, url string, bus *fxbus.Bus, opts ...nats.Option) {
	t.Helper()
	busW := newBus(t)
	c, err := natsbridge.New(busW, natsbridge.Config{URL: url}, natsbridge.WithNATSOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbridge.Receive[Order](c, "orders"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer closeConn(t, c)
	orders := fxbus.Subscribe[Order](busW)
	defer orders.Close()
	fxbus.Emit(bus, Order{ID: "secure", Items: 1})
	if got := recv(t, orders); got.ID != "secure" {
		t.Fatalf("got %+v", got)
	}
}

// The Fx module takes the constructor's options with natsbridge.With: here
// a user and password that the server requires. Without them the start
// fails, naming the URL and the server's refusal.
func TestModuleWithCredentials(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Username: "shop", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(wait) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { stopServer(s) })
	url := s.ClientURL()

	var bus *fxbus.Bus
	err = startApp(t, shopApp(t, url, &bus))
	if err == nil || !strings.Contains(err.Error(), url) || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Errorf("start without credentials: %v, want an authorization error naming %s", err, url)
	}
	creds := nats.UserInfo("shop", "s3cret")
	if err := startApp(t, shopApp(t, url, &bus, natsbridge.With(natsbridge.WithNATSOptions(creds)))); err != nil {
		t.Fatal(err)
	}
	checkOrdersArrive(t, url, bus, creds)
}

// The same with TLS: a server that requires it, with a certificate signed
// by a test authority that the application is given with natsbridge.With.
func TestModuleWithTLS(t *testing.T) {
	ca, serverCert := testCerts(t)
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		TLS: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(wait) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { stopServer(s) })
	url := s.ClientURL()

	var bus *fxbus.Bus
	if err := startApp(t, shopApp(t, url, &bus)); err == nil || !strings.Contains(err.Error(), url) {
		t.Errorf("start without the authority: %v, want an error naming %s", err, url)
	}
	secure := nats.Secure(&tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12})
	if err := startApp(t, shopApp(t, url, &bus, natsbridge.With(natsbridge.WithNATSOptions(secure)))); err != nil {
		t.Fatal(err)
	}
	checkOrdersArrive(t, url, bus, secure)
}

// testCerts makes a certificate authority and a server certificate it
// signs, for 127.0.0.1, valid for an hour.
func testCerts(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "natsbridge test CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
