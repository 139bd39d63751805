package lifecycle

import (
	"syscall"
	"unsafe"
)

// monotonicUsec reads CLOCK_MONOTONIC in microseconds, as systemd's
// MONOTONIC_USEC wants it; the standard library does not expose it.
func monotonicUsec() (int64, bool) {
	const clockMonotonic = 1 // CLOCK_MONOTONIC, in <linux/time.h>
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return int64(ts.Sec)*1_000_000 + int64(ts.Nsec)/1_000, true
}
