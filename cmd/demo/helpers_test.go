package main

import "time"

// timeout bounds every wait in the tests: the end-to-end tests' waits on
// the demo binary, and work_test.go's requests to the in-process server.
const timeout = 5 * time.Second
