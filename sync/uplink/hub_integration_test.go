package uplink_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"wedge/internal/testbroker"
	"wedge/sync/apitoken"
	"wedge/sync/hub"
	"wedge/sync/uplink"
	"wedge/sync/uplink/uplinktest"
	"wedge/sync/wire"
)

// The uplink against the real reference hub (sync/hub), both signing: the two sides of sync/wire
// agree, signatures included.
func TestWithReferenceHub(t *testing.T) {
	b := testbroker.Start(t, nil)
	shared := false
	hubPub, hubKey, _ := wire.GenerateKey()
	agentPub, agentKey, _ := wire.GenerateKey()
	keys := t.TempDir()
	if err := os.MkdirAll(filepath.Join(keys, site), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keys, site, agent+".pub"), []byte(wire.FormatPublicKey(agentPub)), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(context.Background(), hub.Options{BrokerURL: b.URL(), DataDir: t.TempDir(),
		Listen: "127.0.0.1:0", ClientID: "wedge-hub-uplink-test", Shared: &shared, SigningKey: hubKey, AgentKeysDir: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
	})
	select {
	case <-h.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("hub not ready")
	}
	src := uplinktest.NewMemSource(jid)
	src.Append(1200)
	u := start(t, src, uplink.Options{URL: b.URL(), HubKeys: []ed25519.PublicKey{hubPub}, SigningKey: agentKey})
	eventually(t, 30*time.Second, "the hub acks all 1200", func() bool { return src.AckedSeq() == 1200 })

	// The hub's downlink reaches the agent.
	body, _ := json.Marshal(wire.OrdersRequest{Site: site, Orders: []wire.OrderMsg{{Type: wire.TypeOrder, OrderID: "O-dl-1",
		Channel: "taobao", ChannelOrderNo: "TB1", BuyerID: "b1", OrderedAt: "2026-11-25T08:00:00.000Z", Payment: "full"}}})
	token, _, err := apitoken.Create(context.Background(), h.Tokens(), "test", []apitoken.Scope{apitoken.OrdersWrite}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+h.Addr()+"/v1/orders", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /v1/orders: %s", resp.Status)
	}
	select {
	case m := <-u.Downlink():
		msgs, bad, err := wire.ParseDownlink(m.Payload)
		if err != nil || !m.Authenticated || len(bad) != 0 || len(msgs) == 0 || msgs[0].ID() != "O-dl-1" {
			t.Fatalf("downlink %s: %q: msgs %+v bad %v err %v", m.Topic, m.Payload, msgs, bad, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no downlink from the hub")
	}
	if st := u.Stats(); st.Refused != 0 || h.Stats().Unverified != 0 {
		t.Fatalf("refused %d at the agent, %d unverified at the hub", st.Refused, h.Stats().Unverified)
	}
}
