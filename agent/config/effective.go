package config

import (
	"fmt"
	"strconv"
)

// Sources of an effective setting.
const (
	SourceFile    = "file"    // the configuration file sets it
	SourceDefault = "default" // the file does not set it: the documented default applies
	SourceHub     = "hub"     // a hub command set it at run time (the breaker thresholds)
)

// Effective is a setting as the running agent applies it and where that value comes from. The
// agent reports these in its start log, GET /api/v1/status and the console.
type Effective struct {
	Field  string `json:"field"`  // e.g. "breaker.max_backlog"
	Value  string `json:"value"`  // canonical text, as in Setting
	Source string `json:"source"` // SourceFile, SourceDefault or SourceHub
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"` // SourceFile: the line in File
	// With SourceHub: what the file says, when the command was applied (wire time), who sent it and
	// the command's id.
	FileValue string `json:"file_value,omitempty"`
	At        string `json:"at,omitempty"`
	By        string `json:"by,omitempty"`
	Command   string `json:"command,omitempty"`
}

// Origin says where the value comes from in a few words: "wedge.yaml:12", "wedge.yaml (default)",
// "hub command c-1 by ops at 2026-11-11T08:00:00.000Z (file: 500)".
func (e Effective) Origin() string {
	switch e.Source {
	case SourceHub:
		s := "hub command"
		if e.Command != "" {
			s += " " + e.Command
		}
		if e.By != "" {
			s += " by " + e.By
		}
		if e.At != "" {
			s += " at " + e.At
		}
		return fmt.Sprintf("%s (file: %s)", s, e.FileValue)
	case SourceDefault:
		return e.File + " (default)"
	}
	if e.Line > 0 {
		return e.File + ":" + strconv.Itoa(e.Line)
	}
	return e.File
}

// EffectiveFromFile is s as the file gives it: source file (with its line) or default.
func EffectiveFromFile(file string, s Setting) Effective {
	e := Effective{Field: s.Field, Value: s.Value, Source: SourceFile, File: file, Line: s.Line}
	if s.Line == 0 {
		e.Source = SourceDefault
	}
	return e
}
