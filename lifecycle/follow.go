package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// followFile copies a file to w and, when follow is set, keeps copying what
// is appended until ctx ends.
func followFile(ctx context.Context, path string, follow bool, w io.Writer) error {
	f, err := os.Open(path)
	for follow && errors.Is(err, os.ErrNotExist) {
		// Nothing written yet: wait for the first line.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
		f, err = os.Open(path)
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
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}
