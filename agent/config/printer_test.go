package config

import (
	"errors"
	"strings"
	"testing"
)

const printerBase = `site: sz01
agent: pack02
stations:
  - {name: print-1, role: print}
  - {name: dock-1, role: handover}
devices:
`

func TestPrinterDefaults(t *testing.T) {
	c, err := Parse("w.yaml", []byte(printerBase+`  - {name: p1, kind: printer, station: print-1, transport: tcp, address: "10.0.0.5:9100", profile: zebra-zd421, proxy_listen: "0.0.0.0:9101", proxy_filter: "^SF\\d{13}$"}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReprintCode != DefaultReprintCode || c.Devices[0].LabelSize != DefaultLabelSize || c.Devices[0].ProxyFilter == "" {
		t.Fatalf("%+v %+v", c.ReprintCode, c.Devices[0])
	}
	c, err = Parse("w.yaml", []byte("reprint_code: BUDA\n"+printerBase+`  - {name: p1, kind: printer, station: print-1, transport: usblp, port: /dev/usb/lp0, profile: deli-dl-888, label_size: 100x180}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReprintCode != "BUDA" || c.Devices[0].LabelSize != "100x180" {
		t.Fatalf("%+v %+v", c.ReprintCode, c.Devices[0])
	}
}

func TestPrinterErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"  - {name: p1, kind: printer, station: print-1, transport: tcp, address: x, profile: z}\n", `w.yaml:7: devices[0].address: "x" is not host:port`},
		{"  - {name: p1, kind: printer, station: print-1, transport: tcp, address: \"h:1\", profile: z, label_size: A4}\n", `w.yaml:7: devices[0].label_size: "A4": want 76x130 or 100x180`},
		{"  - {name: p1, kind: printer, station: print-1, transport: tcp, address: \"h:1\", profile: z, proxy_filter: \"(\"}\n", `w.yaml:7: devices[0].proxy_filter: not a valid regular expression`},
		{"  - {name: p1, kind: printer, station: dock-1, transport: tcp, address: \"h:1\", profile: z}\n", `w.yaml:7: devices[0].station: "dock-1" is a handover station; printers belong to print stations`},
		{"  - {name: p1, kind: printer, station: print-1, transport: hid, port: x, profile: z}\n", `w.yaml:7: devices[0].transport: "hid": a printer uses tcp, serial or usblp`},
	} {
		_, err := Parse("w.yaml", []byte(printerBase+tc.yaml), nil)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s", tc.yaml, err, tc.want)
		}
	}
	if _, err := Parse("w.yaml", []byte("reprint_code: \" R \"\n"+printerBase), nil); err == nil || !strings.Contains(err.Error(), "reprint_code") {
		t.Errorf("reprint_code with spaces: %v", err)
	}
}
