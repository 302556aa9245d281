// Package firmwareprofiles embeds the firmware profiles shipped with wedge: one YAML file per
// device model (or generic class of devices), documented in README.md. Nothing here parses them;
// drivers/profile is the one loader (profile.LoadEmbedded reads FS).
package firmwareprofiles

import "embed"

// FS holds every *.yaml file of this folder.
//
//go:embed *.yaml
var FS embed.FS
