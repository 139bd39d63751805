package lifecycle_test

import (
	"context"
	"errors"
	"testing"

	"github.com/claviron/fxruntime/lifecycle"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	rt := newRuntime(t, nil, lifecycle.WithLogger(zap.New(core)),
		lifecycle.WithProviders(lifecycle.NewProvider("db", lifecycle.Early, lifecycle.Hooks{})))
	startRuntime(t, rt)
	if err := rt.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	rt.InitiateShutdown("storage", boom, 4)
	if err := stopRuntime(t, rt); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		desc string
		msg  string
		want map[string]any
	}{
		{"provider booted", "provider booted", map[string]any{"provider": "db", "priority": "early"}},
		{"booted", "booted", map[string]any{"providers": []any{"db"}}},
		{"ready", "ready", nil},
		{"reload", "reload started", map[string]any{"trigger": "Reload"}},
		{"shutdown", "shutdown initiated", map[string]any{"reason": "storage", "error": "disk full", "exit_code": int64(4)}},
		{"gate", "gate drained", nil},
		{"tasks", "tasks drained", map[string]any{"tasks": int64(0)}},
		{"provider stopped", "provider stopped", map[string]any{"provider": "db"}},
		{"stopped", "stopped", nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			entries := logs.FilterMessage(tt.msg).All()
			if len(entries) != 1 {
				t.Fatalf("%d entries %q, want 1", len(entries), tt.msg)
			}
			if name := entries[0].LoggerName; name != "lifecycle" {
				t.Errorf("entry %q logged by %q, want the logger named lifecycle", tt.msg, name)
			}
			fields := entries[0].ContextMap()
			for k, v := range tt.want {
				got := fields[k]
				if s, ok := got.([]string); ok { // zap.Strings
					l := make([]any, len(s))
					for i := range s {
						l[i] = s[i]
					}
					got = l
				}
				if gs, ws := fmtAny(got), fmtAny(v); gs != ws {
					t.Errorf("field %s = %s, want %s", k, gs, ws)
				}
			}
		})
	}
}
