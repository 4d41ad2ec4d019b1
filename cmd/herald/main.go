// Command herald is Herald's server and command-line tool in one binary.
//
//	herald serve [--config FILE|DIR] [--listen ADDR] [--db PATH]
//	herald emit TYPE [--data JSON] [--subject S] [--source S] [--url URL]
//	herald check --config FILE|DIR
//	herald ack RUN_ID [--by NAME]
//	herald bench [--target URL] [--rate R] [--duration D] [--count N] [--json]
//	herald version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "herald:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `Herald: events in, rules, durable workflows, notifications out.

Usage:
  herald serve   [--config FILE|DIR] [--listen ADDR] [--storage URL|PATH]  run the server
  herald migrate [--config FILE|DIR] [--storage postgres://...]     apply PostgreSQL migrations
  herald emit    TYPE [--data JSON] [--subject S] [--url URL]        send an event to a server
  herald check   --config FILE|DIR                                  validate a configuration
  herald ack     RUN_ID [--by NAME] [--url URL]                     acknowledge a run (stops escalation)
  herald bench   [--rate R] [--duration D] [--target URL]           measure throughput and latency
  herald version                                                    print the version

Run "herald COMMAND --help" for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "emit":
		return runEmit(ctx, args[1:], stdout, stderr)
	case "check":
		return runCheck(args[1:], stdout, stderr)
	case "ack":
		return runAck(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "herald", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
