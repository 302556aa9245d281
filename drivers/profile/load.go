package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"wedge/internal/yamlpath"

	"go.yaml.in/yaml/v3"

	firmwareprofiles "wedge/firmware-profiles"
)

// Sentinel errors.
var (
	// ErrInvalid means a profile file breaks a rule of the schema. The error is a join of *Error
	// values, one per problem, each naming the file, the line when known, and the field.
	ErrInvalid = errors.New("invalid firmware profile")
	// ErrRead means a profile directory or file could not be read.
	ErrRead = errors.New("cannot read firmware profiles")
)

// Error is one problem in one profile file (FILE:LINE: FIELD: MSG). It wraps ErrInvalid.
type Error = yamlpath.Error

// Set is a collection of profiles with unique ids, sorted by id. It is a plain slice, so it can
// be ranged over; use Get to look one up.
type Set []Profile

// Get returns the profile with the given id.
func (s Set) Get(id string) (Profile, bool) {
	i, ok := slices.BinarySearchFunc(s, id, func(p Profile, id string) int { return strings.Compare(p.ID, id) })
	if !ok {
		return Profile{}, false
	}
	return s[i], true
}

// All returns a copy of the profiles, sorted by id.
func (s Set) All() []Profile { return slices.Clone(s) }

// MatchUSB returns the profiles that list the USB identity vid:pid (4 hex digits each, compared
// without regard to case, as go.bug.st/serial/enumerator reports them), sorted by id. A model
// whose profile lists several modes matches once.
func (s Set) MatchUSB(vid, pid string) []Profile {
	var out []Profile
	for _, p := range s {
		for _, u := range p.USB {
			if strings.EqualFold(u.VID, vid) && strings.EqualFold(u.PID, pid) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Merge returns the profiles of embedded with those of override added; an override profile
// replaces the embedded one with the same id. Neither argument is modified.
func Merge(embedded, override Set) Set {
	byID := make(map[string]Profile, len(embedded)+len(override))
	for _, p := range embedded {
		byID[p.ID] = p
	}
	for _, p := range override {
		byID[p.ID] = p
	}
	out := make(Set, 0, len(byID))
	for _, p := range byID {
		out = append(out, p)
	}
	sortSet(out)
	return out
}

func sortSet(s Set) {
	slices.SortFunc(s, func(a, b Profile) int { return strings.Compare(a.ID, b.ID) })
}

// EmbeddedDir is how embedded profile files are named in Profile.File and in errors.
const EmbeddedDir = "firmware-profiles"

// LoadEmbedded loads the profiles compiled into the binary (firmware-profiles/*.yaml).
func LoadEmbedded() (Set, error) {
	return load(firmwareprofiles.FS, ".", func(name string) string { return EmbeddedDir + "/" + name })
}

// LoadDir loads every *.yaml file in the directory at dir (an operator's override directory, or
// the argument of `wedge profiles validate`). Other files are ignored, except *.yml, which is an
// error (rename it to .yaml) so that a profile is never skipped silently.
func LoadDir(dir string) (Set, error) {
	return load(os.DirFS(dir), ".", func(name string) string { return filepath.Join(dir, name) })
}

// Load loads every *.yaml file in dir of fsys, as LoadDir does; files are named dir/NAME.yaml in
// errors.
//
// Every file is parsed strictly (unknown fields are errors), validated, and given its defaults
// ((*Serial).WithDefaults). All problems of all files are reported, joined, each wrapping
// ErrInvalid; the returned Set then holds the files that were valid.
func Load(fsys fs.FS, dir string) (Set, error) {
	return load(fsys, dir, func(name string) string { return path.Join(dir, name) })
}

func load(fsys fs.FS, dir string, label func(string) string) (Set, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrRead, label(""), err)
	}
	var set Set
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if strings.HasSuffix(name, ".yml") {
			errs = append(errs, &Error{File: label(name), Msg: "profile files must end in .yaml; rename it to " + strings.TrimSuffix(name, ".yml") + ".yaml", Err: ErrInvalid})
			continue
		}
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrRead, label(name), err))
			continue
		}
		p, perrs := Parse(label(name), strings.TrimSuffix(name, ".yaml"), data)
		if len(perrs) > 0 {
			errs = append(errs, perrs...)
			continue
		}
		set = append(set, p)
	}
	sortSet(set)
	return set, errors.Join(errs...)
}

var (
	lineRE    = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	typeRE    = regexp.MustCompile(`^cannot unmarshal !!(\w+)(?: ` + "`" + `(.*)` + "`" + `)? into (\S+)$`)
)

// Parse decodes and validates one profile file. file names it in errors; id is the id the file
// must declare (its name without .yaml). On success the profile has File set and its defaults
// applied; otherwise every problem found is returned, each an *Error wrapping ErrInvalid.
func Parse(file, id string, data []byte) (Profile, []error) {
	var root yaml.Node
	nodes := yaml.NewDecoder(bytes.NewReader(data))
	if err := nodes.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return Profile{}, []error{&Error{File: file, Msg: "empty file: want a profile (schema: 1, id: " + id + ", kind: ...)", Err: ErrInvalid}}
		}
		return Profile{}, []error{syntaxError(file, err)}
	}
	for {
		var next yaml.Node
		err := nodes.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Profile{}, []error{syntaxError(file, err)}
		}
		if n := &next; len(n.Content) > 0 && !(n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			return Profile{}, []error{&Error{File: file, Line: n.Content[0].Line, Msg: "one profile per file: found a second YAML document (---)", Err: ErrInvalid}}
		}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return Profile{}, []error{&Error{File: file, Line: doc.Line, Msg: "wrong type: want a mapping (schema: 1, id: " + id + ", ...), got " + kindName(doc), Err: ErrInvalid}}
	}

	v := &checker{file: file, root: &root}
	var p Profile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return Profile{}, []error{syntaxError(file, err)}
		}
		for _, s := range te.Errors {
			e := &Error{File: file, Msg: s, Err: ErrInvalid}
			if m := lineRE.FindStringSubmatch(s); m != nil {
				e.Line, _ = strconv.Atoi(m[1])
				e.Msg = m[2]
				if m := unknownRE.FindStringSubmatch(e.Msg); m != nil {
					e.Msg = fmt.Sprintf("unknown field %q", m[1])
					e.Field = fieldAtLine(&root, e.Line, m[1], 0, "")
				} else if m := typeRE.FindStringSubmatch(e.Msg); m != nil {
					e.Msg = typeMessage(m[1], m[2], m[3])
					e.Field = fieldAtLine(&root, e.Line, "", nodeKind(m[1]), m[2])
				} else {
					e.Field = fieldAtLine(&root, e.Line, "", yaml.ScalarNode, "")
				}
			}
			v.typeErrs = append(v.typeErrs, e.Field)
			v.errs = append(v.errs, e)
		}
	}
	p.File = file
	p.check(v, id)
	if len(v.errs) > 0 {
		slices.SortStableFunc(v.errs, func(a, b error) int { return a.(*Error).Line - b.(*Error).Line })
		return Profile{}, v.errs
	}
	p.applyDefaults()
	return p, nil
}

func (p *Profile) applyDefaults() {
	if p.Serial != nil {
		s := p.Serial.WithDefaults()
		p.Serial = &s
	}
	if p.Printer != nil && p.Printer.Serial != nil {
		s := p.Printer.Serial.WithDefaults()
		p.Printer.Serial = &s
	}
}

func syntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file, Msg: "YAML syntax: " + msg, Err: ErrInvalid}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "YAML syntax: " + m[2]
	}
	return e
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

// typeMessage rewrites yaml's "cannot unmarshal !!str `abc` into int" for a person.
func typeMessage(tag, val, into string) string {
	got := map[string]string{"str": "text", "int": "a number", "float": "a number", "bool": "true/false",
		"map": "a mapping ({key: value})", "seq": "a list", "null": "nothing"}[tag]
	if got == "" {
		got = tag
	}
	if val != "" {
		got += " " + strconv.Quote(val)
	}
	want := into
	switch {
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case into == "int":
		want = "a whole number"
	case into == "string":
		want = "text"
	case into == "bool":
		want = "true or false"
	case strings.HasPrefix(into, "profile.") || strings.HasPrefix(into, "*profile."):
		want = "a mapping ({key: value})"
	}
	return "wrong type: got " + got + ", want " + want
}

// checker collects problems with their line numbers.
type checker struct {
	file     string
	root     *yaml.Node // nil when validating a Profile built in code
	errs     []error
	typeErrs []string // fields that already failed to decode: no second complaint about them
}

// failf records a problem at the field path, e.g. ("usb", 0, "vid").
func (v *checker) failf(p []any, format string, args ...any) {
	field := yamlpath.Field(p)
	for _, t := range v.typeErrs {
		if t != "" && (field == t || strings.HasPrefix(field, t+".") || strings.HasPrefix(field, t+"[")) {
			return
		}
	}
	line := 0
	if v.root != nil {
		line = yamlpath.Line(v.root, p)
	}
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrInvalid})
}

// fieldAtLine names the field on line that the decoder complained about: the key named key (an
// unknown field), or else the first value node of the given kind (and scalar value, when known).
// The decoder's errors carry only a line.
func fieldAtLine(root *yaml.Node, line int, key string, kind yaml.Kind, value string) string {
	best, fallback := "", ""
	var walk func(n *yaml.Node, p []any)
	consider := func(n *yaml.Node, p []any) {
		if best != "" || n.Line != line {
			return
		}
		if fallback == "" {
			fallback = yamlpath.Field(p)
		}
		if key == "" && n.Kind == kind && (value == "" || n.Kind != yaml.ScalarNode || n.Value == value) {
			best = yamlpath.Field(p)
		}
	}
	walk = func(n *yaml.Node, p []any) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, p)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				kp := append(slices.Clone(p), k.Value)
				if key != "" && best == "" && k.Line == line && k.Value == key {
					best = yamlpath.Field(kp)
				}
				consider(val, kp)
				walk(val, kp)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				ip := append(slices.Clone(p), i)
				consider(c, ip)
				walk(c, ip)
			}
		}
	}
	walk(root, nil)
	if best == "" {
		return fallback
	}
	return best
}

// nodeKind maps a YAML tag name from a decoder error to the kind of node it means.
func nodeKind(tag string) yaml.Kind {
	switch tag {
	case "map":
		return yaml.MappingNode
	case "seq":
		return yaml.SequenceNode
	}
	return yaml.ScalarNode
}
