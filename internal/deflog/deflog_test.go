package deflog

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestOneReadableLinePerWarningOrError: debug and info are dropped;
// warnings and errors are one line each, with time, level, name, message
// and fields, a multi-line value escaped.
func TestOneReadableLinePerWarningOrError(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf).Named("lifecycle")
	log.Debug("task started")
	log.Info("booted")
	log.Warn("task restarting", zap.String("task", "indexer"))
	log.Error("task failed", zap.String("task", "indexer"), zap.Error(errors.New("panic: boom\n\ngoroutine 7 [running]:\nmain.f()")))
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2 (warning and error):\n%s", len(lines), buf.String())
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\S* WARN lifecycle task restarting \{"task": "indexer"\}$`),
		regexp.MustCompile(`^\S+ ERROR lifecycle task failed \{"task": "indexer", "error": "panic: boom\\n\\ngoroutine 7 \[running\]:\\nmain\.f\(\)"\}$`),
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d\n%s\ndoes not match\n%s", i+1, lines[i], re)
		}
	}
}

func TestStderrIsOneLogger(t *testing.T) {
	if first, second := Stderr(), Stderr(); first != second {
		t.Fatal("two default loggers: their lines could interleave")
	}
}
