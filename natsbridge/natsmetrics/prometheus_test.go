package natsmetrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/claviron/fxruntime/natsbridge"
	"github.com/claviron/fxruntime/natsbridge/natsmetrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Scraped over HTTP through the Prometheus exporter, the instruments have
// the names and types that the package documentation lists.
func TestPrometheusNamesAreTheDocumentedOnes(t *testing.T) {
	reg := prometheus.NewRegistry()
	mp, err := newMeterProvider(reg)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Shutdown(context.Background())
	m, err := natsmetrics.NewFromStats(mp, func() []natsbridge.Stats {
		return []natsbridge.Stats{
			{Direction: natsbridge.Outbound, Subject: "a", Type: "x.A"},
			{Direction: natsbridge.Inbound, Subject: "a", Type: "x.A"},
		}
	}, func() string { return "connected" })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		"natsbridge_forwarded_events_total": "counter",
		"natsbridge_buffered_events_total":  "counter",
		"natsbridge_missed_events_total":    "counter",
		"natsbridge_encode_failures_total":  "counter",
		"natsbridge_received_events_total":  "counter",
		"natsbridge_decode_failures_total":  "counter",
		"natsbridge_dropped_events_total":   "counter",
		"natsbridge_echoes_skipped_total":   "counter",
		"natsbridge_connection_state":       "gauge",
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		// "# TYPE name type"
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "natsbridge_") {
			got[f[2]] = f[3]
		}
	}
	for name, typ := range want {
		if g, ok := got[name]; !ok || g != typ {
			t.Errorf("%s: type %q (present: %v), want %q", name, g, ok, typ)
		}
		if !strings.Contains(string(body), "\n"+name+"{") {
			t.Errorf("no sample of %s", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("families %v, want %d", got, len(want))
	}
}
