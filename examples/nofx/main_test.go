package main

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func Example_main() {
	main()
	// Output:
	// order 1
	// order 2
}
