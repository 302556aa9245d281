package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"wedge/internal/yamlpath"
)

// SettingsVersion is the version of the canonical form that SettingsHash covers (the first line of
// SettingsCanonical). It changes when the list of shared fields or the form changes, so that two
// hashes of different versions are never taken as a disagreement about the settings themselves.
// Version 2 added intake.latency_alert.
const SettingsVersion = 2

// sharedFields are the settings every PC of a site must agree on: the rules of the floor (data
// contracts, breaker, overdue, intake latency alert, KPI, badge and pairing rules), the site's broker and the hub keys it
// pins (a PC without the hub's new key refuses the hub's messages). "*" stands for
// any mapping key, "[]" for any list index. SettingsHash covers exactly these fields.
var sharedFields = []string{
	"site",
	"pair_window",
	"operator_pattern",
	"reprint_code",
	"contract.default_order_no_pattern",
	"strict_channels",
	"channels.*.order_no_pattern",
	"broker.url", "broker.hub_keys[]", "broker.accept_unsigned",
	"breaker.max_backlog", "breaker.max_avg_wait", "breaker.close_ratio", "breaker.close_after",
	"overdue_after",
	"intake.latency_alert",
	"kpi.zone", "kpi.within", "kpi.goal", "kpi.warn",
	"kpi.shifts[].name", "kpi.shifts[].name_zh", "kpi.shifts[].start", "kpi.shifts[].end",
}

// perPCFields are the settings that differ from PC to PC by design: its name, paths, addresses,
// identity, secrets, logging, stations and devices. Every field of Config is in exactly one of the
// two lists (a test checks it), so a new field needs a decision.
var perPCFields = []string{
	"agent", "data_dir", "profiles_dir",
	"api.listen", "api.token", "api.allowed_hosts[]",
	"broker.ca", "broker.cert", "broker.key", "broker.username", "broker.password", "broker.hub_keys_file", "signing_key",
	"broker.downlink_grace", // a traffic tuning: PCs that differ in it still apply the same rules
	"log.level", "log.format",
	"stations[].name", "stations[].role",
	"devices[].name", "devices[].kind", "devices[].station", "devices[].transport", "devices[].port",
	"devices[].address", "devices[].profile", "devices[].proxy_listen", "devices[].proxy_filter",
	"devices[].label_size", "devices[].match.vid", "devices[].match.pid", "devices[].match.serial",
	"devices[].match.usb_path", "devices[].match.interface",
	"console.users.*", "console.session_key_file", "console.allowed_origins[]", "console.secure_cookies",
}

// secretFields are never printed, only said to differ.
var secretFields = []string{"api.token", "broker.password", "console.users.*"}

// reportedPrefixes select the settings the agent reports with their source (status, console, start
// log): the breaker, the overdue limit, the intake latency alert, the KPI and the data contracts.
var reportedPrefixes = []string{"breaker.", "overdue_after", "intake.", "kpi.", "contract.", "strict_channels", "channels."}

// Setting is one field of the configuration after defaults.
type Setting struct {
	// Field names it: "breaker.max_backlog", "channels.tmall.order_no_pattern" (channel names
	// lower-cased, as they are matched), "kpi.shifts[0].start".
	Field string
	// Value is its canonical text: text as written, durations as Go durations ("8m0s"), numbers
	// in their shortest form, true or false.
	Value string
	// Line is the line of the field in the file; 0 when the file does not set it (its default).
	Line   int
	Shared bool // one of the settings every PC of a site must agree on
	Secret bool // never printed
}

// Where is "FILE:LINE", or "FILE (default)" for a field the file does not set.
func (s Setting) Where(file string) string {
	if s.Line == 0 {
		return file + " (default)"
	}
	return file + ":" + strconv.Itoa(s.Line)
}

// Settings lists every field of the configuration after defaults, in the order of the file format
// (mapping keys sorted), each with its line and whether it is shared or secret.
func (c *Config) Settings() []Setting {
	var out []Setting
	walkSettings(reflect.ValueOf(c).Elem(), nil, nil, func(field, at []any, v string) {
		name := yamlpath.Field(field)
		line, ok := yamlpath.Find(c.root, at)
		if !ok {
			line = 0
		}
		out = append(out, Setting{Field: name, Value: v, Line: line, Shared: matchAny(sharedFields, field), Secret: matchAny(secretFields, field)})
	})
	return out
}

// SharedSettings are the settings every PC of a site must agree on (see Settings).
func (c *Config) SharedSettings() []Setting {
	return slices.DeleteFunc(c.Settings(), func(s Setting) bool { return !s.Shared })
}

// ReportedSettings are the settings the agent reports with their source: the breaker thresholds,
// the overdue limit, the KPI and the data contracts.
func (c *Config) ReportedSettings() []Setting {
	return slices.DeleteFunc(c.Settings(), func(s Setting) bool {
		for _, p := range reportedPrefixes {
			if strings.HasPrefix(s.Field, p) {
				return false
			}
		}
		return true
	})
}

// SettingsCanonical is the versioned canonical form of the shared settings: the line
// "wedge-settings v2", then one line FIELD=QUOTED-VALUE per shared setting, sorted by field.
func (c *Config) SettingsCanonical() []byte {
	shared := c.SharedSettings()
	slices.SortFunc(shared, func(a, b Setting) int { return strings.Compare(a.Field, b.Field) })
	var b strings.Builder
	fmt.Fprintf(&b, "wedge-settings v%d\n", SettingsVersion)
	for _, s := range shared {
		b.WriteString(s.Field + "=" + strconv.Quote(s.Value) + "\n")
	}
	return []byte(b.String())
}

// SettingsHash is the hash of the shared settings: "v2:" and the first 32 hex digits of the
// SHA-256 of SettingsCanonical. Two PCs of a site with the same hash agree on every shared
// setting; `wedge config hash` prints it and the agent publishes it in its status.
func (c *Config) SettingsHash() string {
	sum := sha256.Sum256(c.SettingsCanonical())
	return fmt.Sprintf("v%d:%s", SettingsVersion, hex.EncodeToString(sum[:16]))
}

var durationType = reflect.TypeFor[Duration]()

// walkSettings calls leaf for every scalar under v: field is the path as reported (channel names
// lower-cased), at the path in the file (channel names as written).
func walkSettings(v reflect.Value, field, at []any, leaf func(field, at []any, v string)) {
	add := func(p []any, x any) []any { return append(slices.Clip(p), x) }
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkSettings(v.Elem(), field, at, leaf)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case !f.IsExported() || name == "-":
			case opts == "inline":
				walkSettings(v.Field(i), field, at, leaf) // its fields are the parent's
			case name != "":
				walkSettings(v.Field(i), add(field, name), add(at, name), leaf)
			}
		}
	case reflect.Map:
		var keys []string
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		for _, k := range keys {
			e := v.MapIndex(reflect.ValueOf(k))
			written := k
			if ch, ok := e.Interface().(Channel); ok && ch.key != "" {
				written = ch.key
			}
			walkSettings(e, add(field, k), add(at, written), leaf)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkSettings(v.Index(i), add(field, i), add(at, i), leaf)
		}
	case reflect.String:
		leaf(field, at, v.String())
	case reflect.Bool:
		leaf(field, at, strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int64:
		if v.Type() == durationType {
			leaf(field, at, time.Duration(v.Int()).String())
		} else {
			leaf(field, at, strconv.FormatInt(v.Int(), 10))
		}
	case reflect.Float64:
		leaf(field, at, strconv.FormatFloat(v.Float(), 'g', -1, 64))
	default:
		panic(fmt.Sprintf("config: no canonical form for %s at %s", v.Type(), yamlpath.Field(field)))
	}
}

// matchAny reports whether the field path matches one of the patterns ("*" any key, "[]" any index).
func matchAny(patterns []string, field []any) bool {
	name := patternOf(field)
	for _, p := range patterns {
		if matchPattern(p, name) {
			return true
		}
	}
	return false
}

// patternOf writes a path with its indexes as "[]": devices[]/match/vid.
func patternOf(field []any) []string {
	var parts []string
	for _, p := range field {
		switch p := p.(type) {
		case int:
			parts[len(parts)-1] += "[]"
		case string:
			parts = append(parts, p)
		}
	}
	return parts
}

func matchPattern(pattern string, parts []string) bool {
	ps := strings.Split(pattern, ".")
	if len(ps) != len(parts) {
		return false
	}
	for i, p := range ps {
		if p == "*" && !strings.HasSuffix(parts[i], "[]") {
			continue
		}
		if p != parts[i] {
			return false
		}
	}
	return true
}
