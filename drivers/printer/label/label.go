// Package label renders the e-waybill label of an order: 76×130 mm and 100×180 mm layouts at 203 and
// 300 dpi, in ZPL or TSPL for the printer, and as PNG (pure Go, image/png) for the preview served by
// the agent API. The label carries the carrier, a Code 128 of the waybill number with its
// human-readable line, the order id, the recipient as carrier e-waybill labels print it (the name
// whole, the phone masked, the full address, wrapped) and a SKU summary when present.
//
// Code 128 is encoded here (subsets B and C chosen automatically, mod-103 check); the PNG's barcode
// is verified with zbarimg, a real decoder, in the tests. Text in the PNG uses a tiny built-in 5×7
// bitmap font: Chinese text is left out of the PNG (no CJK font is embedded) and is carried by the
// ZPL output (^CI28, UTF-8) and the TSPL output (GBK, font "TSS24.BF2").
//
// UNCERTAIN, to check on real printers: the ZPL CJK font name (E:SIMSUN.FNT is assumed present on
// China-market Zebra models; without it Chinese prints as boxes), ^BC mode A (automatic subsets,
// newer firmware), and TSS24.BF2 (the Simplified Chinese font of TSC printers; clones may differ).
package label

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Sentinel errors.
var (
	ErrWaybill = errors.New("label: waybill number cannot be encoded in Code 128")
	ErrSize    = errors.New("label: unsupported label size")
	ErrDPI     = errors.New("label: unsupported resolution (want 203 or 300 dpi)")
	ErrLang    = errors.New("label: unsupported printer language (want zpl or tspl)")
)

// Label is what goes on an e-waybill label. Only Waybill is required.
type Label struct {
	Waybill string // carrier waybill number (encoded as Code 128)
	Carrier string // e.g. "顺丰 SF Express"
	OrderID string
	// RecipientName is printed whole, as carriers print it: the courier asks for the recipient
	// by name. Everywhere else (logs, console, journal, API) the name stays masked.
	RecipientName  string
	RecipientPhone string // masked when rendered: 138****5678
	// RecipientAddress is printed in full, wrapped over up to MaxAddressLines lines: the courier
	// delivers to it.
	RecipientAddress string
	SKUSummary       string // e.g. "SKU-1 ×2, SKU-7 ×1"
}

// MaxAddressLines bounds the lines of the address; the last one ends with "…" when it is cut.
const MaxAddressLines = 4

// Size is a label size in millimetres.
type Size struct{ WidthMM, HeightMM int }

// The supported sizes.
var (
	Size76x130  = Size{76, 130}
	Size100x180 = Size{100, 180}
)

// Languages.
const (
	LangZPL  = "zpl"
	LangTSPL = "tspl"
)

// MaskPhone keeps the first 3 and last 4 digits of 11-digit numbers, else only the last 4.
func MaskPhone(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case len(s) >= 11:
		return s[:3] + "****" + s[len(s)-4:]
	case len(s) > 4:
		return strings.Repeat("*", len(s)-4) + s[len(s)-4:]
	case s != "":
		return "****"
	}
	return ""
}

// line is one text line of the layout.
type line struct {
	zh, en string // Chinese label (ZPL/TSPL only) and the value line
}

// lines are the text lines of the label; width is the printable width in half-width characters
// (a Chinese character takes two).
func (l Label) lines(width int) []line {
	var out []line
	if l.OrderID != "" {
		out = append(out, line{"订单号", "ORDER " + l.OrderID})
	}
	if r := strings.TrimSpace(strings.Join(strings.Fields(l.RecipientName), " ") + " " + MaskPhone(l.RecipientPhone)); r != "" {
		out = append(out, line{"收件人", "TO " + r})
	}
	if a := strings.Join(strings.Fields(l.RecipientAddress), " "); a != "" {
		const prefix = 10 // "地址 ADDR " in half-width characters
		for i, part := range wrap(a, max(width-prefix, 8), MaxAddressLines) {
			zh, en := "地址", "ADDR "+part
			if i > 0 {
				zh, en = "    ", "     "+part
			}
			out = append(out, line{zh, en})
		}
	}
	if l.SKUSummary != "" {
		out = append(out, line{"商品", "SKU " + l.SKUSummary})
	}
	return out
}

// wrap splits s into at most n lines of at most width half-width characters each (a non-ASCII
// character counts two), the last one ending in "…" when s does not fit.
func wrap(s string, width, n int) []string {
	var out []string
	var cur strings.Builder
	used := 0
	for _, r := range s {
		w := 1
		if r >= 0x80 {
			w = 2
		}
		if used+w > width {
			out = append(out, cur.String())
			cur.Reset()
			used = 0
			if len(out) == n {
				last := []rune(out[n-1])
				out[n-1] = string(last[:max(len(last)-1, 0)]) + "…"
				return out
			}
		}
		cur.WriteRune(r)
		used += w
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// textWidth is the printable width of g in half-width characters (a character of text height h
// is about h/2 dots wide when half-width, h when full-width).
func (g geometry) textWidth() int { return (g.w - 2*g.margin) / max(g.textH/2, 1) }

// geometry is the layout in dots.
type geometry struct {
	w, h, margin, dpmm10        int // dpmm10 = dots per 10 mm
	module, barH, quiet         int
	carrierY, barY, hrY, linesY int
	textH, lineGap              int
	barX                        int
}

func layout(l Label, size Size, dpi int) (geometry, []int, error) {
	var g geometry
	if size != Size76x130 && size != Size100x180 {
		return g, nil, fmt.Errorf("%w: %dx%d mm", ErrSize, size.WidthMM, size.HeightMM)
	}
	if dpi != 203 && dpi != 300 {
		return g, nil, fmt.Errorf("%w: %d", ErrDPI, dpi)
	}
	codes, err := Code128(l.Waybill)
	if err != nil {
		return g, nil, err
	}
	mm := func(v int) int { return v * dpi * 10 / 254 }
	g.w, g.h, g.margin = mm(size.WidthMM), mm(size.HeightMM), mm(3)
	modules := len(Modules(codes))
	g.module = (g.w - 2*g.margin) / (modules + 20)
	if g.module > mm(1)/2 {
		g.module = mm(1) / 2 // at most 0.5 mm per module
	}
	if g.module < 1 {
		return g, nil, fmt.Errorf("%w: %q is too long for a %d mm label", ErrWaybill, l.Waybill, size.WidthMM)
	}
	g.quiet = 10 * g.module
	g.barH = mm(size.HeightMM / 6)
	g.textH = mm(4)
	g.lineGap = mm(6)
	g.carrierY = mm(4)
	g.barY = mm(14)
	g.hrY = g.barY + g.barH + mm(2)
	g.linesY = g.hrY + g.textH + mm(6)
	g.barX = (g.w - modules*g.module) / 2
	return g, codes, nil
}

// Render returns the label in the printer's language (zpl or tspl), one label per job.
func Render(l Label, size Size, dpi int, lang string) ([]byte, error) {
	g, _, err := layout(l, size, dpi)
	if err != nil {
		return nil, err
	}
	switch lang {
	case LangZPL:
		return renderZPL(l, g), nil
	case LangTSPL:
		return renderTSPL(l, g, size), nil
	}
	return nil, fmt.Errorf("%w: %q", ErrLang, lang)
}

// zplText escapes field data with ^FH (indicator '_'): ^ ~ _ become _5E _7E _5F.
func zplText(s string) string {
	r := strings.NewReplacer("_", "_5F", "^", "_5E", "~", "_7E")
	return r.Replace(s)
}

func renderZPL(l Label, g geometry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "^XA\n^CI28\n^PW%d\n^LL%d\n^LH0,0\n", g.w, g.h)
	// ^CW assigns the CJK font to alias J (UNCERTAIN: font name per model).
	b.WriteString("^CWJ,E:SIMSUN.FNT\n")
	if l.Carrier != "" {
		fmt.Fprintf(&b, "^FO%d,%d^AJN,%d,%d^FH_^FD%s^FS\n", g.margin, g.carrierY, g.textH*3/2, g.textH*3/2, zplText(l.Carrier))
	}
	fmt.Fprintf(&b, "^FO%d,%d^BY%d^BCN,%d,Y,N,N,A^FH_^FD%s^FS\n", g.barX, g.barY, g.module, g.barH, zplText(l.Waybill))
	y := g.linesY
	for _, ln := range l.lines(g.textWidth()) {
		fmt.Fprintf(&b, "^FO%d,%d^AJN,%d,%d^FH_^FD%s %s^FS\n", g.margin, y, g.textH, g.textH, ln.zh, zplText(ln.en))
		y += g.lineGap
	}
	b.WriteString("^PQ1\n^XZ\n")
	return b.Bytes()
}

// tsplText encodes s for a TSPL string: GBK bytes, '"' as \["] (unencodable runes become '?').
func tsplText(s string) string {
	s = strings.ReplaceAll(s, `"`, `\["]`)
	enc := simplifiedchinese.GBK.NewEncoder()
	var out strings.Builder
	for _, r := range s {
		b, err := enc.String(string(r))
		if err != nil {
			out.WriteByte('?')
			continue
		}
		out.WriteString(b)
	}
	return out.String()
}

func renderTSPL(l Label, g geometry, size Size) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "SIZE %d mm,%d mm\r\nGAP 2 mm,0 mm\r\nDIRECTION 1\r\nCLS\r\n", size.WidthMM, size.HeightMM)
	font := `"TSS24.BF2"`
	mul := max(1, g.textH/24)
	if l.Carrier != "" {
		fmt.Fprintf(&b, "TEXT %d,%d,%s,0,%d,%d,\"%s\"\r\n", g.margin, g.carrierY, font, mul+1, mul+1, tsplText(l.Carrier))
	}
	// BARCODE x,y,"128",height,human readable,rotation,narrow,wide,"content" ("128" = automatic subsets).
	fmt.Fprintf(&b, "BARCODE %d,%d,\"128\",%d,1,0,%d,%d,\"%s\"\r\n", g.barX, g.barY, g.barH, g.module, g.module, tsplText(l.Waybill))
	y := g.linesY
	for _, ln := range l.lines(g.textWidth()) {
		fmt.Fprintf(&b, "TEXT %d,%d,%s,0,%d,%d,\"%s %s\"\r\n", g.margin, y, font, mul, mul, tsplText(ln.zh), tsplText(ln.en))
		y += g.lineGap
	}
	b.WriteString("PRINT 1,1\r\n")
	return b.Bytes()
}

// PNG renders the label as a black-and-white PNG at the printer's resolution.
func PNG(l Label, size Size, dpi int) ([]byte, error) {
	g, codes, err := layout(l, size, dpi)
	if err != nil {
		return nil, err
	}
	img := image.NewGray(image.Rect(0, 0, g.w, g.h))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	fill := func(x0, y0, x1, y1 int) {
		for y := max(y0, 0); y < min(y1, g.h); y++ {
			for x := max(x0, 0); x < min(x1, g.w); x++ {
				img.SetGray(x, y, color.Gray{})
			}
		}
	}
	text := func(x, y, h int, s string) {
		scale := max(1, h/7)
		for _, r := range s {
			gl, ok := font5x7[r]
			if !ok {
				gl, ok = font5x7[[]rune(strings.ToUpper(string(r)))[0]]
			}
			if ok {
				for row := 0; row < 7; row++ {
					for col := 0; col < 5; col++ {
						if gl[row]&(0x10>>col) != 0 {
							fill(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale)
						}
					}
				}
			}
			if r < 0x80 || ok {
				x += 6 * scale
			}
		}
	}
	if c := asciiOnly(l.Carrier); c != "" {
		text(g.margin, g.carrierY, g.textH*3/2, c)
	}
	x := g.barX
	for _, bar := range Modules(codes) {
		if bar {
			fill(x, g.barY, x+g.module, g.barY+g.barH)
		}
		x += g.module
	}
	// Human-readable line, centred under the bars.
	scale := max(1, g.textH/7)
	text((g.w-len(l.Waybill)*6*scale)/2, g.hrY, g.textH, l.Waybill)
	y := g.linesY
	for _, ln := range l.lines(g.textWidth()) {
		text(g.margin, y, g.textH, asciiOnly(ln.en))
		y += g.lineGap
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("label: png: %w", err)
	}
	return out.Bytes(), nil
}

// asciiOnly drops non-ASCII runes (Chinese is not drawn in the PNG) and trims the result.
func asciiOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
