package lifecycle

import (
	"fmt"
	"path/filepath"

	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/bottle-sandbox/bottle/spec"
)

// recordMounts records, with nothing of the bottle running yet, what is at
// the source of every mount of the plan (its device and inode, in
// spec.Mount.Expect), each opened beneath the folder it lies in following
// no link: the working directory and the repositories of the person's
// config (as the workspace record has them: each the folder its first
// start found), the bottle's own folder (own); a source in none of them (a
// sign-in file) is a path of the person's config or of the host's, opened
// in its own folder, not followed if it is a link itself. A source
// recorded already (the workspace, nested git metadata) must still be that
// entry. An engine mounts by path after this, while folders on those paths
// may be renamed (by a bottle whose workspace holds them): what it
// mounted is compared with these records before the agent's command runs,
// and an engine refuses a mount that has none.
func recordMounts(p *spec.Plan, ws *workspace.Record, own string) error {
	for i := range p.Containers {
		for j := range p.Containers[i].Mounts {
			if err := recordMount(&p.Containers[i].Mounts[j], ws, own); err != nil {
				return err
			}
		}
	}
	return nil
}

func recordMount(m *spec.Mount, ws *workspace.Record, own string) error {
	d, rel := sourceRoot(m.Source, ws, own)
	f, err := d.OpenPath(rel)
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Source, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Source, err)
	}
	id, ok := beneath.IDOf(fi)
	if !ok {
		return fmt.Errorf("mount %s: no device and inode", m.Source)
	}
	if e := m.Expect; e != nil && (beneath.ID{Dev: e.Dev, Ino: e.Ino}) != id {
		return fmt.Errorf("mount %s: %w", m.Source, beneath.ErrMoved)
	}
	m.Expect = &spec.FileID{Dev: id.Dev, Ino: id.Ino}
	return nil
}

// sourceRoot is the folder a mount's source is opened beneath, and the
// source below it.
func sourceRoot(src string, ws *workspace.Record, own string) (beneath.Dir, string) {
	if ws != nil {
		if d, rel, ok := ws.At(src); ok {
			return d, rel
		}
	}
	if rel, err := filepath.Rel(own, src); err == nil && filepath.IsLocal(rel) {
		return beneath.At(own), rel
	}
	return beneath.At(filepath.Dir(src)), filepath.Base(src)
}
