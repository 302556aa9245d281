// Package yamlpath turns a field path such as ("devices", 0, "station") into the name people read
// ("devices[0].station") and into the line of that field in a parsed YAML document, so that the
// config loader and the firmware profile loader report errors as FILE:LINE: FIELD: problem alike.
package yamlpath

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Field names a path: strings are mapping keys joined by dots, ints are sequence indexes in brackets.
func Field(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

// Line finds the line of the field at path (the line of its key), or of the deepest ancestor that
// exists. root may be a document node or its content.
func Line(root *yaml.Node, path []any) int {
	line, _ := Find(root, path)
	return line
}

// Find is Line that also says whether the field itself is in the document (ok false: the line is
// an ancestor's, and the field takes its default). A nil root finds nothing.
func Find(root *yaml.Node, path []any) (line int, ok bool) {
	if root == nil {
		return 0, false
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line = n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next, line = n.Content[i+1], n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return line, false
		}
		n = next
	}
	return line, true
}

// Error is one problem in one YAML file, formatted FILE:LINE: FIELD: MSG (unknown parts left out).
// Err is the loader's sentinel (e.g. config.ErrInvalid), so errors.Is works per loader.
type Error struct {
	File  string // e.g. "firmware-profiles/zebra-cdc.yaml"
	Line  int    // 1-based; 0 when unknown
	Field string // dotted path, e.g. "serial.terminator" or "devices[0].station"; "" for the whole file
	Msg   string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the loader's sentinel.
func (e *Error) Unwrap() error { return e.Err }
