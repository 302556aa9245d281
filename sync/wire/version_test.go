package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// An entry written before label_version, intercept_id and intercept existed hashes the same: the
// new fields are left out when empty, so journals already synced still verify.
func TestOldEntryHashUnchanged(t *testing.T) {
	const old = `{"journal_id":"j1","seq":1,"kind":"step","order_id":"O1","from":"pending_allocation","to":"waybill_printed","waybill":"SF1385628716739","at":"2026-01-22T08:00:00.000Z","prev_hash":"","hash":""}`
	var e Entry
	if err := json.Unmarshal([]byte(old), &e); err != nil {
		t.Fatal(err)
	}
	if string(e.Canonical()) != old {
		t.Fatalf("canonical form changed:\n%s\n%s", e.Canonical(), old)
	}
	e.LabelVersion, e.InterceptID, e.Intercept = 2, 7, InterceptReleased
	e.Seal("")
	b, _ := json.Marshal(e)
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil || back.ComputeHash() != e.Hash {
		t.Fatalf("new fields do not survive a round trip: %v", err)
	}
	if !strings.Contains(string(b), `"label_version":2,"intercept_id":7,"intercept":"released"`) {
		t.Fatalf("entry JSON %s", b)
	}
}

func TestInterceptAndVersionMessages(t *testing.T) {
	msgs, bad, err := ParseDownlink([]byte(`[{"type":"intercept","order_id":"O1","reason":"buyer asked"},
		{"type":"intercept","reason":"no order"},
		{"type":"state","order_id":"O1","state":"waybill_printed","waybill":"SF1385628716739","label_version":3,"intercept_id":9,"intercept":"released"},
		{"type":"state","order_id":"O1","state":"waybill_printed","intercept":"teleported"},
		{"type":"order","order_id":"O2","version":4,"recipient_name":"张三","recipient_phone":"13812345678","recipient_address":"广东省深圳市南山区科技园1号"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || len(bad) != 2 || !errors.Is(bad[0], ErrInvalid) || !errors.Is(bad[1], ErrInvalid) {
		t.Fatalf("%d good, bad %v", len(msgs), bad)
	}
	if msgs[1].LabelVersion != 3 || msgs[1].InterceptID != 9 || msgs[1].Intercept != InterceptReleased {
		t.Fatalf("state message %+v", msgs[1])
	}
	if m := msgs[2]; m.Version != 4 || m.RecipientName != "张三" || m.RecipientPhone != "13812345678" || m.RecipientAddress == "" {
		t.Fatalf("order message %+v", m)
	}
	for _, s := range []string{InterceptRequested, InterceptAfterPickup, InterceptReleased, InterceptAcknowledged, InterceptCancelled, InterceptReturnedToStock} {
		if !ValidIntercept(s) {
			t.Errorf("ValidIntercept(%q) false", s)
		}
	}
	if ValidIntercept("") || ValidIntercept("stopped") {
		t.Error("ValidIntercept accepts an unknown status")
	}
}
