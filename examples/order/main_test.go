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
	// 1. db (normal)
	// 2. cache (normal) after db: needs *main.Repo, which needs *main.DB
	// 3. mailer (early) after cache: After(ByName("mailer"), ByType[*main.Cache])
}
