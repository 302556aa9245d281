package msgtmpl_test

import (
	"errors"
	"testing"

	"wedge/internal/msgtmpl"
)

func TestParseRender(t *testing.T) {
	fields := []string{"phone", "order_id", "text"}
	tm, err := msgtmpl.Parse(`{"to":"{{ phone }}","msg":"{{text}}","o":"{{order_id}}"}`, fields)
	if err != nil {
		t.Fatal(err)
	}
	got := tm.Render(map[string]string{"phone": "13812345678", "text": `您的订单"正在"分仓`}, msgtmpl.JSONString)
	if want := `{"to":"13812345678","msg":"您的订单\"正在\"分仓","o":""}`; got != want {
		t.Errorf("Render = %s, want %s", got, want)
	}
	if got := tm.Render(map[string]string{"phone": "1 2"}, msgtmpl.Escapes["form"]); got != `{"to":"1+2","msg":"","o":""}` {
		t.Errorf("form Render = %s", got)
	}
	for _, bad := range []string{"{{phon}}", "{{phone", "phone}}", "{{}}"} {
		if _, err := msgtmpl.Parse(bad, fields); !errors.Is(err, msgtmpl.ErrTemplate) {
			t.Errorf("Parse(%q) = %v, want ErrTemplate", bad, err)
		}
	}
}
