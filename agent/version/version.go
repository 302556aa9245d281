// Package version holds the build version, set by the Makefile with -ldflags.
package version

// Version is the release, e.g. "v0.1.0" or a git describe string; "dev" for plain go builds.
var Version = "dev"
