package main

import (
	"bytes"
	"fmt"

	"github.com/BurntSushi/toml"
	"github.com/bottle-sandbox/bottle/config"
	"github.com/urfave/cli/v2"
)

func loadConfig(g *globals, wd string) (*config.Config, error) {
	src, err := config.DefaultSources(g.config, wd)
	if err != nil {
		return nil, err
	}
	return config.Load(src)
}

// loadHere loads the configuration seen from the current directory, and
// returns that directory too.
func loadHere(g *globals) (*config.Config, string, error) {
	wd, err := workdir()
	if err != nil {
		return nil, "", err
	}
	cfg, err := loadConfig(g, wd)
	return cfg, wd, err
}

func newConfigCommand(g *globals) *cli.Command {
	var asJSON bool
	return &cli.Command{
		Name:  "config",
		Usage: "check or show the agent profiles",
		Subcommands: []*cli.Command{
			{
				Name:  "validate",
				Usage: "check the config files, reporting every problem with its file, line and key",
				Action: func(c *cli.Context) error {
					if err := noExtraArgs(c, 0); err != nil {
						return err
					}
					return runConfigValidate(g)
				},
			},
			{
				Name:      "show",
				Usage:     "print the effective profiles, or one of them, as TOML (or JSON, with the same keys)",
				ArgsUsage: "[AGENT]",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &asJSON}},
				Action: func(c *cli.Context) error {
					if err := noExtraArgs(c, 1); err != nil {
						return err
					}
					return runConfigShow(g, c.Args().First(), asJSON)
				},
			},
		},
	}
}

func runConfigValidate(g *globals) error {
	cfg, _, err := loadHere(g)
	if err != nil {
		return err
	}
	files := "built-in defaults only"
	if len(cfg.Files) > 0 {
		files = fmt.Sprint(cfg.Files)
	}
	fmt.Fprintf(g.stdout, "ok: %d profiles %v from %s\n", len(cfg.Agents), cfg.Names(), files)
	return nil
}

func runConfigShow(g *globals, name string, asJSON bool) error {
	cfg, _, err := loadHere(g)
	if err != nil {
		return err
	}
	names := cfg.Names()
	if name != "" {
		if _, err := cfg.Agent(name); err != nil {
			return err
		}
		names = []string{name}
	}
	// The same schema the files are decoded with, as the user writes it.
	agents := map[string]config.Profile{}
	for _, n := range names {
		agents[n] = cfg.Agents[n].Profile
	}
	out := map[string]any{"agents": agents}
	if len(cfg.BuildFrom) > 0 {
		out["build_from"] = cfg.BuildFrom
	}
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(out); err != nil {
		return err
	}
	if !asJSON {
		_, err := g.stdout.Write(b.Bytes())
		return err
	}
	// The TOML read back: JSON with the keys a config file has.
	var doc map[string]any
	if _, err := toml.Decode(b.String(), &doc); err != nil {
		return err
	}
	return printIndented(g.stdout, doc)
}
