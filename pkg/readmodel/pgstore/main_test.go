package pgstore_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/agentworkorders/awo/pkg/testkit/pgtest"
)

// server holds every test's fresh database, except for the outage test,
// which needs a cluster of its own to stop.
var server *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if server, err = pgtest.StartServer(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := server.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}
