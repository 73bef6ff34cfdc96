package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func newVersionCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print bottle's version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(g.stdout, "bottle %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
