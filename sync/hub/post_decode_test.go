package hub_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"wedge/sync/wire"
)

// A POST whose orders include elements that are not order messages at all (a number, a field of
// the wrong type, a string) answers each of them with its index and encoding/json's reason, and
// still accepts the good one: the hand-written decoder of order messages fails as encoding/json
// would, never silently and never for the whole request.
func TestPostOrdersMalformedElements(t *testing.T) {
	e := newEnv(t)
	good, _ := json.Marshal(wire.OrderMsg{Type: wire.TypeOrder, Channel: "jd", ChannelOrderNo: "JD000000000007", BuyerID: "b-7",
		OrderedAt: "2026-01-22T08:00:00Z", SKUs: []string{"SKU-7"}, Payment: "full"})
	body := `{"site":"sz01","orders":[42,` + string(good) + `,{"skus":"SKU-1"},"order",{"hseq":-1}]}`
	code, rb := do(t, e.hub, http.MethodPost, "/v1/orders", tokenFor(t, e.hub), []byte(body))
	if code != http.StatusOK {
		t.Fatalf("POST: %d %s", code, rb)
	}
	var r postResp
	if err := json.Unmarshal(rb, &r); err != nil {
		t.Fatal(err)
	}
	if r.Accepted != 1 || len(r.OrderIDs) != 1 {
		t.Fatalf("accepted %d (%v), want the one good order: %s", r.Accepted, r.OrderIDs, rb)
	}
	want := []int{0, 2, 3, 4}
	if len(r.Errors) != len(want) {
		t.Fatalf("errors = %+v, want one for each of %v", r.Errors, want)
	}
	for i, e := range r.Errors {
		if e.Index != want[i] || !strings.HasPrefix(e.Error, "格式错误 / malformed: json: cannot unmarshal") {
			t.Errorf("error %d = %+v, want index %d, malformed with encoding/json's reason", i, e, want[i])
		}
	}
}
