// Package deflog is the logger fxbus and lifecycle use when the
// application gives them none: warnings and errors on standard error, one
// readable line each, so that a failure is never silent. Debug and info
// entries are dropped: they are the detail a user turns on by giving a
// *zap.Logger of their own.
package deflog

import (
	"io"
	"os"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Stderr returns the default logger, writing to standard error. Every call
// returns the same logger, so that its lines never interleave.
var Stderr = sync.OnceValue(func() *zap.Logger { return New(os.Stderr) })

// New returns a logger writing warnings and errors to w, one line each:
//
//	2025-03-01T12:00:00.000Z ERROR lifecycle task failed {"task": "indexer", "attempt": 1, "error": "index corrupt"}
//
// The time, the level, the logger's name, the message, then the fields as
// JSON, in which line breaks (a panic's stack) are escaped.
func New(w io.Writer) *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
		TimeKey:          "time",
		LevelKey:         "level",
		NameKey:          "logger",
		MessageKey:       "msg",
		LineEnding:       zapcore.DefaultLineEnding,
		EncodeTime:       zapcore.ISO8601TimeEncoder,
		EncodeLevel:      zapcore.CapitalLevelEncoder,
		EncodeDuration:   zapcore.StringDurationEncoder,
		EncodeName:       zapcore.FullNameEncoder,
		ConsoleSeparator: " ",
	})
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), zapcore.WarnLevel))
}
