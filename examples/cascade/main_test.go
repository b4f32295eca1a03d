package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Every server, client connection, worker and timer of a run must be gone
// when run returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
