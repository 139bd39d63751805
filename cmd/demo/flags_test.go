package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput checks that each kind of bad input ends the command with
// its exit code and one line on stderr naming the problem, before
// anything starts. (An address the server cannot listen on fails the
// boot, which lifecycle.Run reports on the process's stderr: testBadFlag
// checks it on the binary.)
func TestBadInput(t *testing.T) {
	unknownField := filepath.Join(t.TempDir(), "typo.json")
	if err := os.WriteFile(unknownField,
		[]byte(`{"shop": "x", "order_interval": "1s", "orders_per_batch": 1, "max_work": "1s", "colour": "red"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		give     []string
		wantCode int
		wantErr  string
	}{
		{"missing config", []string{"-config", "nowhere/good.json"}, 1, "nowhere/good.json: no such file or directory (run from the repository root, or pass -config)"},
		{"invalid value", []string{"-config", "../../testdata/bad.json"}, 1, "order_interval must be positive, got -5ms"},
		{"unknown field", []string{"-config", unknownField}, 1, `json: unknown field "colour"`},
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined: -nope (see demo -h)"},
		{"bad flag value", []string{"-serve=maybe"}, 2, `invalid boolean value "maybe" for -serve`},
		{"argument", []string{"extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.give, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "demo: ") || strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("stderr is not one line starting with \"demo: \":\n%s", msg)
			}
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("stderr %q does not name the problem: %q", msg, tt.wantErr)
			}
		})
	}
}

// TestHelp checks that -h documents every flag and exits 0.
func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
	for _, want := range []string{"-config file", "-addr address", "-serve", "-v", "default \"testdata/good.json\"", "/work?ms=N", "Exit codes"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the usage does not mention %q:\n%s", want, stdout.String())
		}
	}
}
