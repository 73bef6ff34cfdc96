package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/termtext"
	"github.com/bottle-sandbox/bottle/state"
	"github.com/pmezard/go-difflib/difflib"
)

// workdirConfig is the working directory's bottle.toml as a bottle used it:
// recorded at its first start in the bottle's own folder, where no agent
// reaches, so a resume applies what the person saw in the first preflight.
type workdirConfig struct {
	File    string  `json:"file"`
	Content *string `json:"content"` // nil: there was no such file
}

func (w workdirConfig) data() []byte {
	if w.Content == nil {
		return nil
	}
	return []byte(*w.Content)
}

func recordWorkdirConfig(b *state.Bottle, file string, data []byte) error {
	w := workdirConfig{File: file}
	if data != nil {
		s := string(data)
		w.Content = &s
	}
	out, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	return b.WriteRecord(state.WorkdirConfigFile, out)
}

// resumeWorkdirConfig decides which working-directory bottle.toml a resume
// applies: the one recorded at the bottle's first start. When the file has
// changed since (a bind-mode agent can write it), the change is shown and
// not applied, unless the person, asked at the terminal, takes it; under
// --yes (and the dashboard's auto-resume) it is never taken.
func resumeWorkdirConfig(ctx context.Context, env Env, b *state.Bottle, wd beneath.Dir, yes bool) ([]byte, error) {
	file := filepath.Join(wd.Path(), "bottle.toml")
	var rec workdirConfig
	switch data, err := b.Record(state.WorkdirConfigFile); {
	case errors.Is(err, fs.ErrNotExist):
		// A bottle of an earlier version recorded nothing: take it as none.
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("read the recorded %s of %s: %w", file, b.ID, err)
		}
	}
	cur, err := wd.ReadFile("bottle.toml") // an agent may have left a link there
	if errors.Is(err, fs.ErrNotExist) {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	was := rec.data()
	if (was == nil) == (cur == nil) && string(was) == string(cur) {
		return was, nil
	}
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(was)), B: difflib.SplitLines(string(cur)),
		FromFile: "at the first start of " + b.ID, ToFile: file + " now", Context: 2,
	})
	fmt.Fprintf(env.Stderr, "bottle: %s changed since %s first started (an agent in a bind workspace can write it):\n%s", file, b.ID, termtext.Clean(diff, true))
	if !yes {
		err := env.Ask(ctx, "Apply the change to this bottle? [y/N] ")
		if err == nil {
			return cur, nil
		}
		if !errors.Is(err, ErrDeclined) {
			return nil, err
		}
	}
	how := ""
	if yes {
		how = " (resume without --yes to review the change)"
	}
	fmt.Fprintf(env.Stderr, "bottle: not applied: %s resumes with the file as it was at its first start%s\n", b.ID, how)
	return was, nil
}
