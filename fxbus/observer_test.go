package fxbus_test

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

type observed struct {
	logger *zap.Logger
	logs   *observer.ObservedLogs
}

func newObserved(t *testing.T) observed {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	return observed{logger: zap.New(core), logs: logs}
}

func (o observed) entries(msg string) []observer.LoggedEntry {
	return o.logs.FilterMessage(msg).AllUntimed()
}

func (o observed) count(msg string) int { return o.logs.FilterMessage(msg).Len() }
