package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bottle-sandbox/bottle/internal/beneath"
)

// followFile copies a file of a folder a sidecar writes (so no link in it
// is followed) to w and, when follow is set, keeps copying what is
// appended until ctx ends (and then what came last).
func followFile(ctx context.Context, dir beneath.Dir, rel string, follow bool, w io.Writer) error {
	path := dir.MustJoin(rel).Path()
	f, err := dir.Open(rel)
	for follow && errors.Is(err, os.ErrNotExist) {
		// Nothing written yet: wait for the first line.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
		f, err = dir.Open(rel)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	for {
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			// What came since the last copy, before the writer ended.
			if _, err := io.Copy(w, f); err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}
