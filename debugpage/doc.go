// Package debugpage is a live debug page for a service built on fxbus and
// lifecycle: an http.Handler to mount on the service's admin port.
//
// It shows, at each request:
//
//   - per event type of the bus, its counters (fxbus.Bus.Stats): emitted,
//     dropped for want of a subscriber, missed by lagging subscribers, and
//     live subscribers;
//   - the runtime's state, its gate's in-flight work, the cause and exit
//     code of its shutdown, and its provider plan with why each provider is
//     where it is;
//   - each supervised task: its status, attempt, policy, the failures
//     counted in its restart budget's window, and its last error, derived
//     from the runtime's events;
//   - the last few events of each of the runtime's event types (and
//     fxbus.ShutdownInitiatedEvent), with their fields.
//
// The HTML is plain html/template with a little inline CSS and a meta
// refresh: no script, nothing fetched from anywhere, which its
// Content-Security-Policy enforces. The same data is served as JSON (a
// [Snapshot]) at the sibling path ending in ".json":
//
//	page, err := debugpage.New(bus, rt)
//	...
//	defer page.Close()
//	mux.Handle("GET /debug/fxruntime", page)
//	mux.Handle("GET /debug/fxruntime.json", page)
//
// Under Fx, [Module] provides the page. The page listens to the runtime's
// events through one subscription to lifecycle.Event, the closed set that
// one subscriber sees in order.
//
// It is a package of its own, rather than part of lifecycle, so that
// services that do not serve it do not link net/http and html/template
// through lifecycle, and because it shows the bus as much as the runtime.
//
// What the page does not show yet: the backlog of a type's slowest
// subscriber (fxbus.Stats has no per-subscriber counts) and the size of a
// restarting task's budget (the runtime's events carry the failures counted,
// not the budget).
package debugpage
