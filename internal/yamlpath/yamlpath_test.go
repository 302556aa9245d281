package yamlpath

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestFieldAndLine(t *testing.T) {
	src := "site: sz01\ndevices:\n  - name: a\n    station: p1\n  - name: b\n"
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path  []any
		field string
		line  int
	}{
		{[]any{"site"}, "site", 1},
		{[]any{"devices", 0, "station"}, "devices[0].station", 4},
		{[]any{"devices", 1, "station"}, "devices[1].station", 5}, // missing: deepest ancestor
		{[]any{"devices", 7}, "devices[7]", 2},
	}
	for _, c := range cases {
		if got := Field(c.path); got != c.field {
			t.Errorf("Field(%v) = %q, want %q", c.path, got, c.field)
		}
		if got := Line(&root, c.path); got != c.line {
			t.Errorf("Line(%v) = %d, want %d", c.path, got, c.line)
		}
	}
	for _, c := range []struct {
		path []any
		line int
		ok   bool
	}{
		{[]any{"site"}, 1, true},
		{[]any{"devices", 0, "station"}, 4, true},
		{[]any{"devices", 1, "station"}, 5, false},
		{[]any{"broker", "url"}, 1, false},
	} {
		if line, ok := Find(&root, c.path); line != c.line || ok != c.ok {
			t.Errorf("Find(%v) = %d, %v, want %d, %v", c.path, line, ok, c.line, c.ok)
		}
	}
	if line, ok := Find(nil, []any{"site"}); line != 0 || ok {
		t.Errorf("Find(nil) = %d, %v", line, ok)
	}
}

func TestError(t *testing.T) {
	sentinel := errors.New("invalid")
	cases := []struct {
		e    Error
		want string
	}{
		{Error{File: "wedge.yaml", Line: 14, Field: "devices[0].station", Msg: "unknown"}, "wedge.yaml:14: devices[0].station: unknown"},
		{Error{File: "x.yaml", Msg: "empty file"}, "x.yaml: empty file"},
		{Error{Field: "id", Msg: "missing"}, "id: missing"},
	}
	for _, c := range cases {
		c.e.Err = sentinel
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
		if !errors.Is(&c.e, sentinel) {
			t.Errorf("%q does not wrap its sentinel", c.want)
		}
	}
}
