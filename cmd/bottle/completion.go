package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bottle-sandbox/bottle/sidecars"
	"github.com/bottle-sandbox/bottle/sidecars/supervise"
	"github.com/bottle-sandbox/bottle/state"
)

// The completion scripts ask bottle itself (--generate-bash-completion) for
// the words that fit where the cursor is: commands, flags, profile names,
// identities, request ids.
const (
	bashCompletion = `# bottle completion for bash: source <(bottle completion bash)
_bottle_complete() {
  local cur=${COMP_WORDS[COMP_CWORD]} words=("${COMP_WORDS[@]:0:COMP_CWORD}") opts
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o bashdefault -o default -F _bottle_complete bottle
`
	zshCompletion = `#compdef bottle
# bottle completion for zsh: source <(bottle completion zsh), or this file as
# _bottle in a folder of $fpath, where compinit finds it.
_bottle_complete() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} $cur --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then _describe 'values' opts; else _files; fi
}
# Autoloaded from $fpath as _bottle, this file is that function's body:
# complete now. Sourced, register for bottle.
if [[ "${funcstack[1]}" == _bottle ]]; then
  _bottle_complete "$@"
else
  compdef _bottle_complete bottle
fi
`
	fishCompletion = `# bottle completion for fish: bottle completion fish | source
function __bottle_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    if string match -q -- '-*' $cur
        $words $cur --generate-bash-completion 2>/dev/null
    else
        $words --generate-bash-completion 2>/dev/null
    end
end
complete -c bottle -f -a '(__bottle_complete)'
`
)

func newCompletionCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script: commands, flags, profile names, identities",
		ArgsUsage: "bash|zsh|fish",
		BashComplete: func(c *cli.Context) {
			fmt.Fprintln(c.App.Writer, "bash\nzsh\nfish")
		},
		Action: func(c *cli.Context) error {
			if err := noExtraArgs(c, 1); err != nil {
				return err
			}
			script, ok := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[c.Args().First()]
			switch {
			case c.NArg() == 0:
				return usageError(c, "name the shell")
			case !ok:
				return fmt.Errorf("completion: bottle completes bash, zsh and fish, not %s", printable(c.Args().First(), false))
			}
			_, err := fmt.Fprint(g.stdout, script)
			return err
		},
	}
}

// completing returns a command's completion: its flags when the word being
// completed is one, else the words complete gives.
func completing(g *globals, complete func(c *cli.Context) []string) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		if n := len(g.args); n >= 2 && strings.HasPrefix(g.args[n-2], "-") {
			cli.DefaultCompleteWithFlags(c.Command)(c)
			return
		}
		for _, w := range complete(c) {
			fmt.Fprintln(c.App.Writer, w)
		}
	}
}

// profileNames completes the first argument with the profiles seen from here.
func profileNames(g *globals) cli.BashCompleteFunc {
	return completing(g, func(c *cli.Context) []string {
		if c.NArg() > 0 {
			return nil
		}
		cfg, _, err := loadHere(g)
		if err != nil {
			return nil
		}
		return cfg.Names()
	})
}

// identities completes the first argument with the bottles there are and,
// for approve and deny, the second with the bottle's pending request ids,
// for logs with the bottle's services.
func identities(g *globals) cli.BashCompleteFunc {
	return completing(g, func(c *cli.Context) []string {
		root, err := state.DefaultRoot()
		if err != nil {
			return nil
		}
		if c.NArg() == 1 && c.Command.Name == "logs" {
			return sidecars.Services
		}
		if c.NArg() == 1 && (c.Command.Name == "approve" || c.Command.Name == "deny") {
			b, err := root.Open(c.Args().First())
			if err != nil {
				return nil
			}
			reqs, _ := (supervise.Store{Dir: b.SuperviseDir()}).List()
			var ids []string
			for _, r := range reqs {
				if r.Status == supervise.StatusPending {
					ids = append(ids, r.ID)
				}
			}
			return ids
		}
		// stop, rm and stats take several bottles: each argument is one,
		// of those not named yet.
		if c.NArg() > 0 && !slices.Contains(severalBottles, c.Command.Name) {
			return nil
		}
		bs, _ := root.List()
		var ids []string
		for _, b := range bs {
			if !slices.Contains(c.Args().Slice(), b.ID) {
				ids = append(ids, b.ID)
			}
		}
		return ids
	})
}

// severalBottles are the commands that take more than one bottle.
var severalBottles = []string{"stop", "rm", "stats"}
