package profile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: any bytes never panic; a failure is a list of *Error naming the file and wrapping
// ErrInvalid; a success validates again and has its defaults applied.
func FuzzParse(f *testing.F) {
	cases, _ := filepath.Glob("testdata/cases/*/profile.yaml")
	for _, c := range cases {
		if b, err := os.ReadFile(c); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("schema: 1\nid: fuzz\nkind: scanner\nvendor: a\nmodel: b\nserial: {baud: 9600}\nsources: [x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, errs := Parse("fuzz.yaml", "fuzz", data)
		if len(errs) > 0 {
			for _, err := range errs {
				var e *Error
				if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "fuzz.yaml") {
					t.Fatalf("error %v is not an *Error naming the file", err)
				}
			}
			return
		}
		if p.ID != "fuzz" || p.File != "fuzz.yaml" {
			t.Fatalf("parsed %+v", p)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("a parsed profile does not validate: %v", err)
		}
		if p.Serial != nil && *p.Serial != p.Serial.WithDefaults() {
			t.Fatalf("defaults not applied: %+v", p.Serial)
		}
	})
}
