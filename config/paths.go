package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// pathTag marks a field that names a file or folder on the host (see
// checkPaths): `bottle:"path"`. Every such key a config file can set carries it.
const pathTag = "path"

// checkPaths refuses a working directory's file whose paths lead out of the
// working directory: after links, every file it names must be inside it. A
// cloned repository must not make the host read a file of the user's into the
// bottle (a prompt, a build context).
func (l *layer) checkPaths() error {
	root, err := filepath.EvalSymlinks(l.dir)
	if err != nil {
		return fmt.Errorf("%s: %w", l.file, err)
	}
	var bad problems
	for _, name := range slices.Sorted(maps.Keys(l.profiles)) {
		walkPaths(reflect.ValueOf(l.profiles[name].raw), "", func(key, p string) {
			if p == "" {
				return
			}
			top, _, _ := strings.Cut(key, ".")
			top, _, _ = strings.Cut(top, "[")
			if where, ok := insideDir(root, l.dir, p); !ok {
				bad.add(l.errorAt(name, top, fmt.Sprintf("%s %q leads to %s, outside the working directory %s: a working directory's bottle.toml may only name files inside it", key, p, where, l.dir)))
			}
		})
	}
	return bad.err()
}

// walkPaths calls f with the key and value of every string field tagged as a
// path in v (a struct, with its slices, maps and pointers followed).
func walkPaths(v reflect.Value, key string, f func(key, path string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkPaths(v.Elem(), key, f)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if t.Field(i).Anonymous {
				walkPaths(v.Field(i), key, f)
				continue
			}
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			k := name
			if key != "" {
				k = key + "." + name
			}
			fv := v.Field(i)
			if t.Field(i).Tag.Get("bottle") == pathTag && fv.Kind() == reflect.String {
				f(k, fv.String())
				continue
			}
			walkPaths(fv, k, f)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkPaths(v.Index(i), fmt.Sprintf("%s[%d]", key, i), f)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			walkPaths(v.MapIndex(k), fmt.Sprintf("%s.%v", key, k), f)
		}
	}
}

// insideDir reports whether p (relative to dir, whose real path is root)
// names something inside root once every link that exists is followed, and
// where it leads.
func insideDir(root, dir, p string) (string, bool) {
	if strings.HasPrefix(p, "~") {
		return "your home folder", false
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	real := resolveExisting(filepath.Clean(p))
	return real, real == root || strings.HasPrefix(real, root+string(filepath.Separator))
}

// resolveExisting follows the links of the longest part of p that exists.
func resolveExisting(p string) string {
	rest := ""
	for cur := p; ; cur = filepath.Dir(cur) {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return p
		}
		if cur == filepath.Dir(cur) {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}
