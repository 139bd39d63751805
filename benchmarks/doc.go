// Package benchmarks compares fxbus with other Go event buses and with
// hand-written channel code, on the workloads of README.md. It is a module
// of its own so that the peers never enter fxruntime's go.mod.
//
// Everything is in the _test.go files; run ./run.sh, or
//
//	go test -run '^$' -bench . -benchmem
package benchmarks
