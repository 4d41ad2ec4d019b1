package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/herald-notify/herald/internal/app"
)

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file or folder to validate")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *configPath == "" && fs.NArg() == 1 {
		*configPath = fs.Arg(0)
	}
	if *configPath == "" {
		return usageError{"check needs --config FILE|DIR"}
	}
	cfg, err := app.LoadConfig(*configPath, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return fmt.Errorf("%s: configuration is invalid", *configPath)
	}
	fmt.Fprintf(stdout, "%s: ok (version %s, %d channels, %d templates, %d rules)\n",
		*configPath, cfg.Version[:12], len(cfg.Channels), len(cfg.Templates), len(cfg.Rules))
	return nil
}
