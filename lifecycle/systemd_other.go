//go:build !linux

package lifecycle

// monotonicUsec reports false: systemd, which wants CLOCK_MONOTONIC in
// MONOTONIC_USEC, runs on Linux only.
func monotonicUsec() (int64, bool) { return 0, false }
