package lifecycle_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// clockMonotonicUsec reads CLOCK_MONOTONIC in microseconds, for the test
// to bracket the runtime's MONOTONIC_USEC.
func clockMonotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		t.Fatal(errno)
	}
	return int64(ts.Sec)*1_000_000 + int64(ts.Nsec)/1_000
}

// TestSystemdNotifyAbstractSocket: NOTIFY_SOCKET may name an address in
// Linux's abstract namespace ("@..."); and a reload's MONOTONIC_USEC is
// CLOCK_MONOTONIC at its start.
func TestSystemdNotifyAbstractSocket(t *testing.T) {
	s := listenNotify(t, fmt.Sprintf("@fxruntime-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	before := clockMonotonicUsec(t)
	reload := notifyRun(t, s)
	after := clockMonotonicUsec(t)
	line := strings.Split(reload, "\n")[1]
	usec, err := strconv.ParseInt(strings.TrimPrefix(line, "MONOTONIC_USEC="), 10, 64)
	if err != nil || usec < before || usec > after {
		t.Fatalf("%q: want MONOTONIC_USEC between %d and %d, CLOCK_MONOTONIC around the run", line, before, after)
	}
}
