// Package msgtmpl is the small template language of the hub's notifications: text with {{field}}
// placeholders drawn from a fixed list of fields. Parse refuses a placeholder naming a field not in
// the list (so a typo is caught when the configuration is loaded, not when a customer gets a
// message with a hole in it); Render fills the fields, escaped for where the text goes (a JSON
// string, a form value, or as is).
package msgtmpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ErrTemplate means a template cannot be parsed or names an unknown field.
var ErrTemplate = errors.New("msgtmpl: bad template")

// Template is a parsed template. The zero value renders as "".
type Template struct {
	text  []string // literal pieces; text[i] comes before field[i]
	field []string
}

// Parse parses s; every {{name}} must name one of allowed (spaces inside the braces are ignored).
func Parse(s string, allowed []string) (*Template, error) {
	t := &Template{}
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if strings.Contains(s, "}}") {
				return nil, fmt.Errorf("%w: \"}}\" without \"{{\"", ErrTemplate)
			}
			t.text = append(t.text, s)
			return t, nil
		}
		j := strings.Index(s[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("%w: \"{{\" without \"}}\"", ErrTemplate)
		}
		name := strings.TrimSpace(s[i+2 : i+j])
		if !slices.Contains(allowed, name) {
			return nil, fmt.Errorf("%w: unknown field {{%s}} (known: %s)", ErrTemplate, name, strings.Join(allowed, ", "))
		}
		t.text = append(t.text, s[:i])
		t.field = append(t.field, name)
		s = s[i+j+2:]
	}
}

// MustParse is Parse for templates written in the code; it panics on an error.
func MustParse(s string, allowed []string) *Template {
	t, err := Parse(s, allowed)
	if err != nil {
		panic(err)
	}
	return t
}

// Escape is how a field's value is written into the text.
type Escape func(string) string

// Escapes by name, as a configuration names them: json (inside a JSON string, without the
// quotes), form (a URL-encoded form value) and raw (as is).
var Escapes = map[string]Escape{
	"json": JSONString,
	"form": url.QueryEscape,
	"raw":  func(s string) string { return s },
}

// JSONString is s escaped for the inside of a JSON string.
func JSONString(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// Render fills the placeholders from vals (a missing value is ""), each escaped with esc (nil: as
// is).
func (t *Template) Render(vals map[string]string, esc Escape) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	for i, s := range t.text {
		b.WriteString(s)
		if i < len(t.field) {
			v := vals[t.field[i]]
			if esc != nil {
				v = esc(v)
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// The field sets of the hub's notification templates (hub.yaml notify:, sync/hub). They live here
// so the configuration check (hubconfig) and the hub render with one list.
var (
	// OrderFields are the fields of a reminder's text.
	OrderFields = []string{"order_id", "channel_order_no", "waybill", "site"}
	// BreakerFields are the fields of a breaker notice's text.
	BreakerFields = []string{"site", "agent", "at"}
	// SMSFields are the fields of an SMS gateway's URL, headers and body: the recipient's phone,
	// the order's fields, the rendered text and the notice's idempotency key (id).
	SMSFields = []string{"phone", "order_id", "channel_order_no", "waybill", "text", "id"}
	// KPIFields are the fields of a site's KPI warning: the site, its day, the rate, warning level
	// and goal (percentages), the pickup deadline, and the counts behind the rate.
	KPIFields = []string{"site", "day", "rate", "warn", "goal", "within", "counted", "on_time", "late", "open"}
)
