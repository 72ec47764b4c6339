// Command switchboard is the gateway's one binary: demo (the default), serve, token, schema,
// check-config and version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at release build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `switchboard — one GraphQL endpoint for contact-center statistics

Usage:
  switchboard [demo] [--addr 127.0.0.1:8080] [--tokens-file PATH]
  switchboard serve --config FILE
  switchboard token --config FILE --tenant T [--scopes a,b] [--ttl 1h]
  switchboard schema
  switchboard check-config --config FILE
  switchboard version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "switchboard:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "demo"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "demo":
		return runDemo(ctx, args, stdout, stderr)
	case "serve":
		return runServe(ctx, args, stdout, stderr)
	case "token":
		return runToken(args, stdout, stderr)
	case "schema":
		return runSchema(stdout)
	case "check-config":
		return runCheckConfig(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "switchboard", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
