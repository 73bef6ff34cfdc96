package main

import (
	"context"
	"io"
	"net"
	"os"
	"slices"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/kube"
	"github.com/bottle-sandbox/bottle/lifecycle"
	"github.com/bottle-sandbox/bottle/state"
)

type kubeManifestOptions struct {
	agent        string
	namespace    string
	kubeContext  string
	registry     string
	runtimeClass string
	storage      string
}

func newKubeCommand(g *globals) *cli.Command {
	o := &kubeManifestOptions{}
	return &cli.Command{
		Name:  "kube",
		Usage: "bottles on a Kubernetes cluster",
		Subcommands: []*cli.Command{{
			Name:      "manifest",
			Usage:     "print the objects starting AGENT's bottle on a cluster would make, for review or GitOps",
			ArgsUsage: "[AGENT]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "namespace", Value: "default", Usage: "the bottle's `NAMESPACE`", Destination: &o.namespace},
				&cli.StringFlag{Name: "context", Usage: "the kubeconfig `CONTEXT` (default: the current one)", Destination: &o.kubeContext},
				&cli.StringFlag{Name: "registry", Usage: "the `REGISTRY` the cluster pulls bottle's images from (default: as named locally)", Destination: &o.registry},
				&cli.StringFlag{Name: "runtime-class", Value: "gvisor", Usage: "the RuntimeClass a runsc profile runs under", Destination: &o.runtimeClass},
				&cli.StringFlag{Name: "storage", Value: "1Gi", Usage: "the size of the bottle's volume", Destination: &o.storage},
			},
			Action: func(c *cli.Context) error {
				if err := noExtraArgs(c, 1); err != nil {
					return err
				}
				o.agent = c.Args().First()
				if o.agent == "" {
					o.agent = defaultAgent
				}
				return runKubeManifest(c.Context, g, o)
			},
		}},
	}
}

// runKubeManifest plans the bottle as a dry run does (nothing is kept) and
// prints the plan as the cluster's objects. On a cluster the workspace is a
// copy: the cluster cannot see the host's folder.
func runKubeManifest(ctx context.Context, g *globals, o *kubeManifestOptions) error {
	cfg, wd, err := loadHere(g)
	if err != nil {
		return err
	}
	resolved, err := cfg.Agent(o.agent)
	if err != nil {
		return err
	}
	a := *resolved
	a.Workspace = config.WorkspaceCopy
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	env := lifecycle.Env{Root: root, Engine: kube.Planner{Context: o.kubeContext, Namespace: o.namespace},
		Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr, Version: version, Exe: exe}
	l := &lifecycle.Launch{Agent: &a, Workdir: wd, DryRun: true, Yes: true, WorkdirConfig: cfg.WorkdirData, Repositories: cfg.Repositories,
		ShowPreflight: func(w io.Writer, pf lifecycle.Preflight) error {
			var ports []int
			for _, r := range pf.Agent.Egress {
				ports = append(ports, r.PortList()...)
			}
			if pf.Gate != nil {
				for _, d := range pf.Gate.Destinations {
					if _, p, err := net.SplitHostPort(d); err == nil {
						if n, err := strconv.Atoi(p); err == nil {
							ports = append(ports, n)
						}
					}
				}
			}
			b, err := kube.Objects(pf.Plan, root.Bottle(pf.ID).Dir, kube.Options{Namespace: o.namespace, Registry: o.registry,
				RuntimeClass: o.runtimeClass, Storage: o.storage, Ports: slices.Compact(slices.Sorted(slices.Values(ports)))})
			if err != nil {
				return err
			}
			return b.YAML(w)
		}}
	return l.Run(ctx, env)
}
