package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/bottle-sandbox/bottle/engines"
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
				&cli.StringFlag{Name: "storage", Usage: "the size of a PersistentVolumeClaim for the bottle's folders (default: an emptyDir on the node)", Destination: &o.storage},
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
// prints the plan as the cluster's objects.
func runKubeManifest(ctx context.Context, g *globals, o *kubeManifestOptions) error {
	cfg, wd, err := loadHere(g)
	if err != nil {
		return err
	}
	a, err := cfg.Agent(o.agent)
	if err != nil {
		return err
	}
	root, err := state.DefaultRoot()
	if err != nil {
		return err
	}
	exe, sidecar, err := binaries()
	if err != nil {
		return err
	}
	env := lifecycle.Env{Root: root, Stdin: g.stdin, Stdout: g.stdout, Stderr: g.stderr, Version: version, Exe: exe, Sidecar: sidecar}
	l := &lifecycle.Launch{Agent: a, Workdir: wd, WorkdirConfig: cfg.WorkdirData, Repositories: cfg.Repositories}
	at := engines.Cluster{Context: o.kubeContext, Namespace: o.namespace}
	return engines.WriteManifest(ctx, env, l, at, engines.ClusterOptions{Registry: o.registry, RuntimeClass: o.runtimeClass, Storage: o.storage}, g.stdout)
}
