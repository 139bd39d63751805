package debugpage

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"
)

// ServeHTTP serves the page: as JSON (a [Snapshot]) when the path ends in
// ".json", as HTML otherwise. Mount it on both paths:
//
//	mux.Handle("GET /debug/fxruntime", page)
//	mux.Handle("GET /debug/fxruntime.json", page)
//
// The HTML links to the JSON next to it and reloads itself (see
// [WithRefresh]); it fetches nothing, and its Content-Security-Policy
// forbids it to. Methods other than GET and HEAD get 405.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "debugpage: method "+r.Method+" not allowed; use GET", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	snap := p.Snapshot()
	var buf bytes.Buffer
	if strings.HasSuffix(r.URL.Path, ".json") {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(snap); err != nil {
			http.Error(w, "debugpage: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "application/json")
	} else {
		// Relative, so that it works wherever the page is mounted:
		// /debug/fxruntime links to /debug/fxruntime.json.
		jsonHref := path.Base(r.URL.Path) + ".json"
		if b := path.Base(r.URL.Path); b == "/" || b == "." {
			jsonHref = "index.json" // mounted at the root
		}
		if err := pageTemplate.Execute(&buf, view{Snapshot: snap, JSON: jsonHref,
			Refresh: int(p.refresh.Round(time.Second) / time.Second), Missed: p.Missed()}); err != nil {
			http.Error(w, "debugpage: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	_, _ = w.Write(buf.Bytes())
}

// view is what the HTML template renders.
type view struct {
	Snapshot
	JSON    string // the href of the JSON
	Refresh int    // seconds; 0 for none
	Missed  uint64
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return now.Sub(t).Round(time.Millisecond).String() + " ago"
	},
	"clock": func(t time.Time) string { return t.Format("15:04:05.000") },
	"dur":   func(d time.Duration) string { return d.String() },
	"inc":   func(i int) int { return i + 1 },
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>fxruntime: {{with .Runtime}}{{.State}}{{else}}bus{{end}}</title>
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
h2 { font-size: 1.05em; margin: 1.4em 0 .4em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin: .8em 0 .1em; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .15em .8em .15em 0; vertical-align: top; }
th { color: #555; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font: 12.5px ui-monospace, monospace; }
.state { display: inline-block; padding: 0 .5em; border-radius: .3em; background: #ddd; font-weight: 600; }
.running, .reloading { background: #cfc; }
.booting { background: #ffd; }
.shutting.down, .stopped, .failed { background: #fcc; }
.restarting { background: #ffd; }
.muted { color: #777; }
.err { color: #a00; }
</style>
</head>
<body>
<h1>fxruntime {{with .Runtime}}<span class="state {{.State}}">{{.State}}</span>{{end}}</h1>
<p class="muted">{{clock .Time}}, watching since {{clock .Since}} ({{ago .Time .Since}}){{if .Refresh}}; reloads every {{.Refresh}}s{{end}}. <a href="{{.JSON}}">JSON</a>{{if .Missed}} <span class="err">This page missed {{.Missed}} events: it read them slower than they came.</span>{{end}}</p>
{{with .Runtime}}
<h2>Runtime</h2>
<table>
<tr><th>state</th><td>{{.State}}{{if .Ready}} (ready){{end}}</td></tr>
<tr><th>gate</th><td>{{.GateInFlight}} in flight{{if .GateClosed}}, closed{{end}}</td></tr>
{{if .Cause}}<tr><th>shutdown cause</th><td class="err">{{.Cause}}</td></tr>{{end}}
{{if .ExitCode}}<tr><th>exit code</th><td>{{.ExitCode}}</td></tr>{{end}}
</table>
<h2>Provider plan</h2>
{{if .Plan}}<table>
<tr><th>#</th><th>provider</th><th>priority</th><th>after</th></tr>
{{range $i, $s := .Plan}}<tr><td class="n">{{$i | inc}}</td><td>{{$s.Name}}</td><td>{{$s.Priority}}</td><td class="mono">{{range $s.After}}{{.}}<br>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No providers.</p>{{end}}
{{end}}
<h2>Tasks</h2>
{{if .Tasks}}<table>
<tr><th>task</th><th>status</th><th>attempt</th><th>policy</th><th>failures in window</th><th>last error</th><th>changed</th></tr>
{{range .Tasks}}<tr><td>{{.Name}}</td><td><span class="state {{.Status}}">{{.Status}}</span>{{if .NextDelay}} in {{dur .NextDelay}}{{end}}</td><td class="n">{{.Attempt}}</td><td>{{.Policy}}</td><td class="n">{{.Failures}}</td><td class="err mono">{{.LastError}}</td><td class="muted">{{ago $.Time .Changed}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No task events yet.</p>{{end}}
<h2>Bus</h2>
{{if .Types}}<table>
<tr><th>event type</th><th>emitted</th><th>dropped</th><th>missed</th><th>subscribers</th><th>slowest backlog</th></tr>
{{range .Types}}<tr><td class="mono" title="{{.Type}}">{{.Name}}</td><td class="n">{{.Emitted}}</td><td class="n">{{.Dropped}}</td><td class="n{{if .Missed}} err{{end}}">{{.Missed}}</td><td class="n">{{.Subscribers}}</td><td class="n">{{.Backlog}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No event type subscribed to yet.</p>{{end}}
<h2>Recent events</h2>
{{range .Events}}<h3 class="mono">{{.Type}} <span class="muted">({{.Count}})</span></h3>
<table>{{range .Recent}}<tr><td class="muted mono">{{clock .At}}</td><td class="mono">{{.Text}}</td></tr>{{end}}</table>
{{else}}<p class="muted">No events yet.</p>{{end}}
</body>
</html>
`
