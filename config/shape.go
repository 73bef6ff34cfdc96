package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// checkShape compares a file's values, as the TOML parser read them, with
// the struct they decode into: every key the struct does not have and every
// value of the wrong type is an Error in the file's own terms (the key's
// dotted path, what it must be, what the file has), all of them, not just
// the first as the decoder would say it (in Go's types). Each is taken out
// of values, so what is left still decodes and can be validated.
func (l *layer) checkShape(values map[string]any, t reflect.Type) Errors {
	var es Errors
	l.shapeTable(values, t, nil, &es)
	return es
}

func (l *layer) shapeTable(m map[string]any, t reflect.Type, key []string, es *Errors) {
	fields, known := tomlFields(t)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		at := append(slices.Clone(key), k)
		ft, ok := fields[k]
		if !ok {
			e := l.shapeError(at, "unknown key"+suggest(k, known))
			if c := closest(k, known); c != "" {
				e.meant = dotted(append(slices.Clone(key), c))
			}
			*es = append(*es, e)
			delete(m, k)
			continue
		}
		if !l.shapeValue(m[k], ft, at, es) {
			delete(m, k)
		}
	}
}

// shapeValue checks v against t; false when v cannot stand as a whole.
func (l *layer) shapeValue(v any, t reflect.Type, key []string, es *Errors) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	ok := true
	switch t.Kind() {
	case reflect.Struct:
		var m map[string]any
		if m, ok = v.(map[string]any); ok {
			l.shapeTable(m, t, key, es)
		}
	case reflect.Map:
		var m map[string]any
		if m, ok = v.(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if !l.shapeValue(m[k], t.Elem(), append(slices.Clone(key), k), es) {
					delete(m, k)
				}
			}
		}
	case reflect.Slice:
		var elems []any
		switch vs := v.(type) {
		case []any:
			elems = vs
		case []map[string]any:
			for _, e := range vs {
				elems = append(elems, e)
			}
		default:
			ok = false
		}
		if !ok {
			break
		}
		whole := true
		for i, e := range elems {
			if !l.shapeValue(e, t.Elem(), append(slices.Clone(key), "["+strconv.Itoa(i)+"]"), es) {
				whole = false
			}
		}
		return whole
	case reflect.String:
		_, ok = v.(string)
	case reflect.Bool:
		_, ok = v.(bool)
	case reflect.Int, reflect.Int64:
		_, ok = v.(int64)
	case reflect.Float64:
		switch v.(type) {
		case float64, int64:
		default:
			ok = false
		}
	default:
		panic(fmt.Sprintf("config: no TOML shape for %s", t))
	}
	if !ok {
		*es = append(*es, l.shapeError(key, fmt.Sprintf("must be %s, not %s", wanted(t), found(v, key))))
	}
	return ok
}

// tomlFields are a struct's TOML keys (an embedded struct's among them)
// and their types, and the keys in order.
func tomlFields(t reflect.Type) (map[string]reflect.Type, []string) {
	fields := map[string]reflect.Type{}
	var known []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			sub, subKnown := tomlFields(f.Type)
			maps.Copy(fields, sub)
			known = append(known, subKnown...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
		known = append(known, name)
	}
	return fields, known
}

func (l *layer) shapeError(key []string, msg string) *Error {
	return &Error{File: l.file, Line: l.lineOf(key...), Key: dotted(key), Msg: msg}
}

// dotted writes a key's path as a person would: agents.claude.egress[2].ports.
func dotted(key []string) string {
	var b strings.Builder
	for i, k := range key {
		if i > 0 && !strings.HasPrefix(k, "[") {
			b.WriteByte('.')
		}
		b.WriteString(k)
	}
	return b.String()
}

// wanted says what a value of type t is in a config file.
func wanted(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list of " + plural(t.Elem())
	case reflect.Map:
		return "a table of " + plural(t.Elem())
	default:
		return "a table"
	}
}

func plural(t reflect.Type) string {
	switch w := wanted(t); w {
	case "true or false":
		return "true or false values"
	default:
		return strings.TrimPrefix(w, "a ") + "s"
	}
}

// found says what a parsed value is, in TOML's words. A string's text is
// shown only when it is short and under no key that may hold a secret.
func found(v any, key []string) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 || strings.ContainsAny(v, "\r\n") || secretKey(key) {
			return "a string"
		}
		return "a string " + strconv.Quote(v)
	case int64:
		return fmt.Sprintf("an integer %d", v)
	case float64:
		return "a float " + strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return fmt.Sprintf("a boolean %t", v)
	case time.Time:
		return "a date or time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	default:
		return "a value"
	}
}

// secretKey reports whether a key's path may carry a secret a person
// pasted in the wrong place: its value is never repeated.
func secretKey(key []string) bool {
	for _, k := range key {
		k = strings.ToLower(k)
		for _, w := range []string{"credential", "token", "secret", "passw", "signin", "env", "value", "key", "auth"} {
			if strings.Contains(k, w) {
				return true
			}
		}
	}
	return false
}
