package hub_test

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"wedge/sync/hub"
	"wedge/sync/wire"
)

// TestJournalEntriesPaged: the hub hands its copy of a journal back page by page, as the agent
// sealed it, with how far it acknowledged; entries past a gap are listed but not acknowledged.
func TestJournalEntriesPaged(t *testing.T) {
	e := newEnv(t)
	a := newAgent(t, e.broker.URL(), "sz01", "pack01")
	var tmpl []wire.Entry
	for i := 1; i <= 3; i++ {
		tmpl = append(tmpl, spine(fmt.Sprintf("O-%d", i))...)
	}
	entries := chain("j1", tmpl...) // 9 entries
	a.send("j1", entries[:7]...)
	a.waitAck(1)
	a.send("j1", entries[8]) // seq 9, after a gap at 8
	if ack := a.waitAck(2); ack.AckedSeq != 7 {
		t.Fatalf("ack %d, want 7", ack.AckedSeq)
	}
	a.send("j2", chain("j2", wire.Entry{Kind: wire.KindNote})...) // another journal of the agent
	a.waitAck(3)

	var got []wire.Entry
	after := uint64(0)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		var page hub.JournalEntries
		getJSON(t, e.hub, fmt.Sprintf("/v1/journals/sz01/pack01/j1/entries?after=%d&limit=3", after), http.StatusOK, &page)
		if page.JournalID != "j1" || page.AckedSeq != 7 || page.MaxSeq != 9 || len(page.Entries) > 3 {
			t.Fatalf("page after %d: %+v", after, page)
		}
		got = append(got, page.Entries...)
		if !page.More {
			break
		}
		after = page.Entries[len(page.Entries)-1].Seq
	}
	want := append(append([]wire.Entry(nil), entries[:7]...), entries[8])
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("entries %+v\nwant %+v", got, want)
	}
	for i := range got[:7] { // exactly as sealed: every link checks
		var prev *wire.Entry
		if i > 0 {
			prev = &got[i-1]
		}
		if err := wire.VerifyLink(prev, got[i]); err != nil {
			t.Errorf("entry %d: %v", i+1, err)
		}
	}
	var page hub.JournalEntries
	getJSON(t, e.hub, "/v1/journals/sz01/pack01/j1/entries?after=7", http.StatusOK, &page)
	if len(page.Entries) != 1 || page.Entries[0].Seq != 9 || page.More {
		t.Errorf("after 7: %+v", page)
	}

	var errResp struct {
		Error string `json:"error"`
	}
	for path, code := range map[string]int{
		"/v1/journals/sz01/pack01/nope/entries":           http.StatusNotFound,
		"/v1/journals/sz01/pack09/j1/entries":             http.StatusNotFound,
		"/v1/journals/sz01/pack01/j1/entries?limit=0":     http.StatusBadRequest,
		"/v1/journals/sz01/pack01/j1/entries?limit=99999": http.StatusBadRequest,
		"/v1/journals/sz01/pack01/j1/entries?after=-1":    http.StatusBadRequest,
		"/v1/journals/sz01/pack01/j%20 1/entries":         http.StatusBadRequest,
		"/v1/journals/s*z/pack01/j1/entries":              http.StatusBadRequest,
	} {
		getJSON(t, e.hub, path, code, &errResp)
		if errResp.Error == "" {
			t.Errorf("%s: no error text", path)
		}
	}
}
