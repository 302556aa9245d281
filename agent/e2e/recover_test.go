package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"wedge/agent/journal"
	"wedge/order"
	"wedge/sync/wire"
)

// TestRecoverKeepsVersionsAndIntercepts: an order printed at data version 1, then changed by the
// order system (version 2, another address: the label is outdated) and intercepted, all synced to
// the hub. The agent's journal is damaged; `wedge journal recover` rebuilds it from the hub's copy.
// The rebuilt journal has the order's latest data, the outdated label and the open intercept, and
// the restarted agent shows them.
func TestRecoverKeepsVersionsAndIntercepts(t *testing.T) {
	needE2E(t)
	dir := t.TempDir()
	b := startBroker(t, dir)
	h := startHub(t, dir, b, freeAddr(t))
	scanner := openPty(t)
	a := newAgent(t, dir, "pack01", b, stationSpec{"print-1", "print", scanner})
	waitFor(t, 30*time.Second, "the scanner is open", func() bool { return a.devicesConnected(t) })

	v1 := makeOrders("RV", 1)[0]
	v1.Version, v1.RecipientName, v1.RecipientPhone, v1.RecipientAddress = 1, "张三", "13812345678", "广东省深圳市南山区科苑路8号"
	h.dispatch(t, "sz01", []wire.OrderMsg{v1})
	waitFor(t, 60*time.Second, "the order enters 待分仓", func() bool { return a.orderState(t, v1.OrderID) == "pending_allocation" })
	scan(t, scanner, "OP-li4", v1.OrderID, v1.Waybill)
	waitFor(t, 60*time.Second, "the order is 已打单", func() bool { return a.orderState(t, v1.OrderID) == "waybill_printed" })

	v2 := v1
	v2.Version, v2.RecipientAddress = 2, "广东省深圳市福田区华强北路1号"
	h.dispatch(t, "sz01", []wire.OrderMsg{v2})
	h.dispatch(t, "sz01", []wire.OrderMsg{{Type: wire.TypeIntercept, OrderID: v1.OrderID, Reason: "买家要求拦截"}})
	want := func(o order.Order) error {
		switch {
		case o.Version != 2 || o.RecipientAddress != v2.RecipientAddress:
			return fmt.Errorf("data version %d, address %q", o.Version, o.RecipientAddress)
		case !o.LabelOutdated || o.LabelVersion != 1:
			return fmt.Errorf("label version %d outdated %v", o.LabelVersion, o.LabelOutdated)
		case !o.Intercepted() || o.Intercept.Reason != "买家要求拦截":
			return fmt.Errorf("intercept %+v", o.Intercept)
		}
		return nil
	}
	db := filepath.Join(a.data, "wedge.db")
	waitFor(t, 60*time.Second, "the agent applies the update and the intercept, and the hub acks them", func() bool {
		var o struct {
			Order struct {
				Version       uint64 `json:"version"`
				LabelOutdated bool   `json:"label_outdated"`
				Intercept     struct {
					Status string `json:"status"`
				} `json:"intercept"`
			} `json:"order"`
		}
		if code, err := getJSON("http://"+a.addr+"/api/v1/orders/"+v1.OrderID, &o); err != nil || code != 200 {
			return false
		}
		return o.Order.Version == 2 && o.Order.LabelOutdated && o.Order.Intercept.Status == wire.InterceptRequested
	})
	a.drained(t, h, 60*time.Second)
	a.stop()
	if err := want(readOrder(t, db, v1.OrderID)); err != nil {
		t.Fatalf("before the damage: %v", err)
	}

	// A bad sector in the first entries, then the recovery from the hub's copy.
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// Entry 1's key (8-byte big-endian seq), then its binary record (tag byte 0x02).
	at := bytes.Index(data, append(binary.BigEndian.AppendUint64(nil, 1), 2))
	if at < 0 {
		t.Fatal("entry 1 not found in the journal file")
	}
	for i := at; i < at+64 && i < len(data); i++ {
		data[i] ^= 0xFF
	}
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(wedgeBin, "journal", "recover", "--data", a.data, "--hub", h.url(""), "--token", h.token).CombinedOutput()
	if err != nil {
		t.Fatalf("wedge journal recover: %v\n%s", err, out)
	}
	a.verify(t)
	after := readOrder(t, db, v1.OrderID)
	if err := want(after); err != nil {
		t.Fatalf("after recover: %v\n%+v", err, after)
	}

	// The restarted agent shows it: still intercepted, the label still outdated.
	a.run(t)
	var view struct {
		Order struct {
			Version       uint64 `json:"version"`
			LabelOutdated bool   `json:"label_outdated"`
			Intercept     struct {
				Status string `json:"status"`
			} `json:"intercept"`
		} `json:"order"`
	}
	if code, err := getJSON("http://"+a.addr+"/api/v1/orders/"+v1.OrderID, &view); err != nil || code != 200 {
		t.Fatalf("GET order after recover: %d %v", code, err)
	}
	if view.Order.Version != 2 || !view.Order.LabelOutdated || view.Order.Intercept.Status != wire.InterceptRequested {
		t.Fatalf("the agent's view after recover: %+v", view.Order)
	}
}

// readOrder reads order id from the stopped agent's journal file.
func readOrder(t *testing.T, path, id string) order.Order {
	t.Helper()
	s, err := journal.Open(path, &journal.Options{Site: "sz01", Agent: "pack01"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o, ok, err := s.Order(id)
	if err != nil || !ok {
		t.Fatalf("order %s in %s: %v %v", id, path, ok, err)
	}
	return o
}
