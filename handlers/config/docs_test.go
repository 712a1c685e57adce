package config_test

import (
	"io/fs"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"livefeed/handlers/config"
	"livefeed/web"
)

// TestDocumentedDefaults keeps the table of keys of the configuration
// page (web/docs/configuration.md, "Keys") honest: each default it gives
// is the built-in one (config.Default), used when there is no
// config.toml.
func TestDocumentedDefaults(t *testing.T) {
	text, err := fs.ReadFile(web.Docs(), "configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(text), "\n## Keys\n")
	if !found {
		t.Fatal(`configuration.md has no "## Keys" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	defaults := reflect.ValueOf(config.Default())
	field := func(v reflect.Value, tag string) reflect.Value {
		for i := range v.NumField() {
			if v.Type().Field(i).Tag.Get("toml") == tag {
				return v.Field(i)
			}
		}
		t.Fatalf("configuration.md names %q, which config.Config has not", tag)
		return reflect.Value{}
	}
	ticked := regexp.MustCompile("`([^`]*)`")
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		rows++
		var keys []string
		sectionName := ""
		for _, m := range ticked.FindAllStringSubmatch(cells[1], -1) {
			key := m[1]
			if s, _, ok := strings.Cut(key, "."); ok {
				sectionName = s
			} else {
				key = sectionName + "." + key
			}
			keys = append(keys, key)
		}
		var values []string
		for _, m := range ticked.FindAllStringSubmatch(cells[2], -1) {
			values = append(values, m[1])
		}
		for i, key := range keys {
			s, k, _ := strings.Cut(key, ".")
			got := field(field(defaults, s), k)
			want := ""
			switch {
			case len(values) == 0:
				// "none", "unset": the zero value
			case len(values) == 1:
				want = values[0]
			case len(values) == len(keys):
				want = values[i]
			default:
				t.Fatalf("configuration.md row %q: %d values for %d keys", line, len(values), len(keys))
			}
			if !sameDefault(got, want) {
				t.Errorf("configuration.md says %s defaults to %q; it is %v", key, want, got)
			}
		}
	}
	if rows < 20 {
		t.Fatalf("found %d rows of defaults in configuration.md's table of keys", rows)
	}
}

// sameDefault reports whether v is what the page writes as want ("" for
// the zero value or an empty list).
func sameDefault(v reflect.Value, want string) bool {
	if want == "" {
		return v.IsZero() || v.Kind() == reflect.Slice && v.Len() == 0
	}
	switch got := v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(want)
		return err == nil && d == got
	case string:
		return got == want
	case float64:
		f, err := strconv.ParseFloat(want, 64)
		return err == nil && f == got
	case bool:
		b, err := strconv.ParseBool(want)
		return err == nil && b == got
	}
	n, unit, _ := strings.Cut(want, " ")
	i, err := strconv.ParseInt(n, 10, 64)
	if unit == "MiB" {
		i <<= 20
	}
	return err == nil && v.CanInt() && v.Int() == i
}
