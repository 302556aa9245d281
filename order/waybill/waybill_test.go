package waybill

import (
	"errors"
	"testing"
)

func TestValidateExamplesFromReference(t *testing.T) {
	// Every example number in docs/DEVICE-PROTOCOLS.md §6.
	cases := []struct{ carrier, number string }{
		{"sf", "SF1385628716739"}, {"sf", "SF1023574626292"},
		{"zto", "73610555582883"},
		{"yto", "YT8962646785389"}, {"yto", "YT5202203890344"},
		{"sto", "773277027280336"},
		{"yunda", "463431409940372"},
		{"jd", "JDX024407261700"}, {"jd", "JDVA11408814483"},
		{"jt", "JT5261988016578"}, {"jt", "JT3002232682242"},
		{"deppon", "DPK202252612836"},
		{"ems", "1207119765021"}, {"ems", "1240921381750"},
		{"s10", "RB123456785GB"}, {"s10", "EA123456785CN"},
	}
	for _, c := range cases {
		if err := Validate(c.carrier, c.number); err != nil {
			t.Errorf("Validate(%q, %q) = %v, want nil", c.carrier, c.number, err)
		}
		if err := Validate("", c.number); err != nil {
			t.Errorf("Validate(\"\", %q) = %v, want nil", c.number, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		carrier, number string
		want            error
	}{
		{"sf", "YT8962646785389", ErrFormat},
		{"sf", "SF138562871673", ErrFormat}, // one digit short
		{"zto", "79610555582883", ErrFormat},
		{"s10", "RB123456784GB", ErrCheckDigit},
		{"ups", "1Z999AA10123456784", ErrUnknownCarrier},
		{"sf", "  ", ErrEmpty},
		{"", "HELLO", ErrFormat},
	}
	for _, c := range cases {
		if err := Validate(c.carrier, c.number); !errors.Is(err, c.want) {
			t.Errorf("Validate(%q, %q) = %v, want %v", c.carrier, c.number, err, c.want)
		}
	}
}

func TestDetectPrefersPrefixed(t *testing.T) {
	for number, want := range map[string]string{
		"SF1385628716739": "sf", "yt8962646785389": "yto", "EA123456785CN": "s10",
		"73610555582883": "zto", "463431409940372": "yunda", "1207119765021": "ems",
	} {
		c, ok := Detect(number)
		if !ok || c.Code != want {
			t.Errorf("Detect(%q) = %q, %v; want %q", number, c.Code, ok, want)
		}
	}
	if _, ok := Detect("EA123456784CN"); ok {
		t.Errorf("Detect accepted an S10 number with a wrong check digit")
	}
}

func TestS10CheckDigit(t *testing.T) {
	for serial, want := range map[string]int{"12345678": 5, "00000000": 5, "10000014": 0} {
		got, ok := S10CheckDigit(serial)
		if !ok || got != want {
			t.Errorf("S10CheckDigit(%q) = %d, %v; want %d", serial, got, ok, want)
		}
	}
	if _, ok := S10CheckDigit("1234567X"); ok {
		t.Error("S10CheckDigit accepted a letter")
	}
}
