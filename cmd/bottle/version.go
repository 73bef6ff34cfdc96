package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bottle-sandbox/bottle/engines"
	"github.com/bottle-sandbox/bottle/spec"
)

func init() {
	bi, _ := debug.ReadBuildInfo()
	version, commit, buildDate = fromBuildInfo(version, commit, buildDate, bi)
}

// fromBuildInfo fills in what the Makefile did not stamp from what Go
// recorded in the binary: the module's version (go install ...@v1.2.3, or
// one Go made from the repository's commit), the commit and its time.
func fromBuildInfo(ver, rev, date string, bi *debug.BuildInfo) (string, string, string) {
	if bi != nil {
		vcs := map[string]string{}
		for _, s := range bi.Settings {
			vcs[s.Key] = s.Value
		}
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		if rev == "" {
			rev = vcs["vcs.revision"]
			if rev != "" && vcs["vcs.modified"] == "true" {
				rev += "-dirty"
			}
		}
		if date == "" {
			date = vcs["vcs.time"]
		}
		// A pseudo-version (go install ...@COMMIT) names the commit and its time.
		if m := pseudoVersion.FindStringSubmatch(bi.Main.Version); m != nil {
			if rev == "" {
				rev = m[2]
			}
			if t, err := time.Parse("20060102150405", m[1]); err == nil && date == "" {
				date = t.Format(time.RFC3339)
			}
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return ver, rev, date
}

var pseudoVersion = regexp.MustCompile(`[.-](\d{14})-([0-9a-f]{12})(\+.*)?$`)

// versionReport is what bottle version says: bottle's own build, and the
// Podman service a bottle started now would use (nil when none answers).
type versionReport struct {
	Bottle struct {
		Version      string `json:"version"`
		Commit       string `json:"commit"`
		Built        string `json:"built"`
		Go           string `json:"go"`
		Platform     string `json:"platform"`
		SidecarImage string `json:"sidecar_image"`
	} `json:"bottle"`
	Podman *podmanVersion `json:"podman"`
}

type podmanVersion = engines.PodmanService

type versionOptions struct{ json bool }

func newVersionCommand(g *globals) *cli.Command {
	o := &versionOptions{}
	return &cli.Command{
		Name:  "version",
		Usage: "print bottle's version, commit, build date and Go version, the Podman service's version and API version, and the sidecar image's tag",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON", Destination: &o.json},
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 0); err != nil {
				return err
			}
			return runVersion(c.Context, g, o)
		},
	}
}

func runVersion(ctx context.Context, g *globals, o *versionOptions) error {
	var r versionReport
	r.Bottle.Version, r.Bottle.Commit, r.Bottle.Built = version, commit, buildDate
	r.Bottle.Go, r.Bottle.Platform = runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
	_, sidecar, err := binaries()
	if err != nil {
		return err
	}
	if r.Bottle.SidecarImage, err = spec.SidecarRef(sidecar); err != nil {
		return err
	}
	perr := podmanVersionOf(ctx, &r)
	if err := printVersion(g.stdout, r, o.json); err != nil {
		return err
	}
	return perr
}

// podmanVersionOf asks the Podman service a bottle would use.
func podmanVersionOf(ctx context.Context, r *versionReport) error {
	p, err := engines.PodmanVersion(ctx)
	r.Podman = p
	return err
}

func printVersion(w io.Writer, r versionReport, asJSON bool) error {
	if asJSON {
		return printIndented(w, r)
	}
	b := r.Bottle
	fmt.Fprintf(w, "bottle:\n")
	for _, l := range [][2]string{{"version", b.Version}, {"commit", b.Commit}, {"built", b.Built}, {"go", b.Go},
		{"platform", b.Platform}, {"sidecar image", b.SidecarImage}} {
		fmt.Fprintf(w, "  %-14s %s\n", l[0]+":", l[1])
	}
	if p := r.Podman; p != nil {
		where := "rootful"
		if p.Rootless {
			where = "rootless"
		}
		if p.Private {
			where += ", started for this command"
		}
		fmt.Fprintf(w, "podman service:\n")
		for _, l := range [][2]string{{"version", p.Version}, {"API version", p.APIVersion}, {"socket", p.URI + " (" + where + ")"}} {
			fmt.Fprintf(w, "  %-14s %s\n", l[0]+":", l[1])
		}
	}
	return nil
}
