package label

import (
	"fmt"
)

// code128Patterns are the bar/space module widths of symbol values 0–106 (106 = stop, 7 elements).
var code128Patterns = [107]string{
	"212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
	"221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
	"221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
	"212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
	"231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
	"231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
	"314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
	"112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
	"111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
	"214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
	"114131", "311141", "411131", "211412", "211214", "211232", "2331112",
}

const (
	codeC   = 99
	codeB   = 100
	startB  = 104
	startC  = 105
	stopSym = 106
)

// Code128 encodes text (printable ASCII 0x20–0x7E) as Code 128 symbol values, choosing subset B
// or C automatically (C for runs of 4+ digits at the ends, 6+ in the middle), with the mod-103
// check value and the stop symbol appended.
func Code128(text string) ([]int, error) {
	if text == "" {
		return nil, fmt.Errorf("%w: empty", ErrWaybill)
	}
	for i := 0; i < len(text); i++ {
		if text[i] < 0x20 || text[i] > 0x7E {
			return nil, fmt.Errorf("%w: byte 0x%02x at %d is not printable ASCII", ErrWaybill, text[i], i)
		}
	}
	digits := func(i int) int {
		n := 0
		for i+n < len(text) && text[i+n] >= '0' && text[i+n] <= '9' {
			n++
		}
		return n
	}
	var codes []int
	i := 0
	setC := false
	if d := digits(0); d >= 4 || (d == len(text) && d%2 == 0) {
		codes = append(codes, startC)
		setC = true
	} else {
		codes = append(codes, startB)
	}
	for i < len(text) {
		if setC {
			if digits(i) >= 2 {
				codes = append(codes, int(text[i]-'0')*10+int(text[i+1]-'0'))
				i += 2
				continue
			}
			codes = append(codes, codeB)
			setC = false
			continue
		}
		if d := digits(i); d >= 6 || (d >= 4 && i+d == len(text)) {
			if d%2 == 1 {
				codes = append(codes, int(text[i])-32)
				i++
			}
			codes = append(codes, codeC)
			setC = true
			continue
		}
		codes = append(codes, int(text[i])-32)
		i++
	}
	sum := codes[0]
	for k := 1; k < len(codes); k++ {
		sum += codes[k] * k
	}
	codes = append(codes, sum%103, stopSym)
	return codes, nil
}

// Modules returns the bar pattern of the symbol values as booleans (true = bar), one per module,
// without quiet zones.
func Modules(codes []int) []bool {
	var m []bool
	for _, c := range codes {
		bar := true
		for _, w := range code128Patterns[c] {
			for k := 0; k < int(w-'0'); k++ {
				m = append(m, bar)
			}
			bar = !bar
		}
	}
	return m
}
