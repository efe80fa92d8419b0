// Command kinko is Kinko's single binary: the server, migrations, the ledger
// verifier and benchmarks. It parses nothing itself; all of it lives in
// internal/cli, so tests run the same code in-process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kinko-pay/kinko/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
