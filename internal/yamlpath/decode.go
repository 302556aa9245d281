package yamlpath

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	lineRE    = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	typeRE    = regexp.MustCompile(`^cannot unmarshal !!(\w+)(?: .*)? into (\S+)$`)
)

// DecodeStrict decodes data into v with unknown fields as errors. It returns the parsed document
// (for Line) and, on failure, every problem as an *Error naming file, line and field, each wrapping
// sentinel (joined with errors.Join). An empty document leaves v as it was.
func DecodeStrict(name string, data []byte, v any, sentinel error) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, SyntaxError(name, err, sentinel)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return &root, nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return nil, SyntaxError(name, err, sentinel)
	}
	var errs []error
	for _, s := range te.Errors {
		e := &Error{File: name, Msg: s, Err: sentinel}
		if m := lineRE.FindStringSubmatch(s); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
			key := ""
			if m := unknownRE.FindStringSubmatch(e.Msg); m != nil {
				key = m[1]
				e.Msg = fmt.Sprintf("unknown field %q", key)
			}
			e.Field = FieldAtLine(&root, e.Line, key)
		}
		e.Msg = friendlyType(e.Msg)
		errs = append(errs, e)
	}
	return nil, errors.Join(errs...)
}

// SyntaxError turns a YAML parser error into an *Error with the line it names.
func SyntaxError(name string, err error, sentinel error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: name, Msg: "YAML syntax: " + msg, Err: sentinel}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "YAML syntax: " + m[2]
	}
	return e
}

// FieldAtLine names the path of the mapping key on line (preferring the key named key), for the
// decoder's errors, which carry only a line.
func FieldAtLine(root *yaml.Node, line int, key string) string {
	best := ""
	var walk func(n *yaml.Node, path []any) bool
	walk = func(n *yaml.Node, path []any) bool {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if walk(c, path) {
					return true
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				p := append(append([]any(nil), path...), k.Value)
				if k.Line == line {
					if key == "" || k.Value == key {
						best = Field(p)
						return true
					}
					if best == "" {
						best = Field(p)
					}
				}
				if walk(val, p) {
					return true
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if walk(c, append(append([]any(nil), path...), i)) {
					return true
				}
			}
		}
		return false
	}
	walk(root, nil)
	return best
}

// friendlyType rewrites the decoder's type errors for people.
func friendlyType(msg string) string {
	m := typeRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	name := func(s string) string {
		switch {
		case s == "seq" || strings.HasPrefix(s, "[]"):
			return "a list"
		case s == "map" || strings.HasPrefix(s, "map[") || strings.Contains(s, "."):
			return "a mapping ({key: value})"
		case s == "str" || s == "string":
			return "text"
		case s == "int" || s == "float" || strings.HasPrefix(s, "int") || strings.HasPrefix(s, "uint"):
			return "a number"
		case s == "bool":
			return "true or false"
		}
		return s
	}
	return fmt.Sprintf("wrong type: got %s, want %s", name(m[1]), name(m[2]))
}
