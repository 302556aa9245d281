// Package ewaybilltest is a fake Kuaidi100 e-waybill V2 server for tests: it checks the form and
// the signature as the real API does and answers in its shape, and it can be told to fail with
// HTTP 5xx, to hang (client timeouts), to refuse with an API code, or to return an invalid number.
package ewaybilltest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"

	"wedge/sync/hub/ewaybill"
)

// Mode is how the server answers method=order.
type Mode int

const (
	OK        Mode = iota // a valid number for the carrier
	Status5xx             // HTTP 500
	Hang                  // no answer until the request's context ends or the server closes
	Refuse                // {success:false, code:RefuseCode}
	Invalid               // success with a number that matches no carrier format
)

// Server is the fake. Its zero mode is OK.
type Server struct {
	*httptest.Server
	Key, Secret string

	mu         sync.Mutex
	mode       Mode
	refuseCode int
	calls      int
	issued     []string
	params     []map[string]any
	hang       chan struct{}
}

// New starts a server that accepts key and secret; Close it when done.
func New(key, secret string) *Server {
	s := &Server{Key: key, Secret: secret, refuseCode: 30003, hang: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close releases hanging requests and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.hang:
	default:
		close(s.hang)
	}
	s.mu.Unlock()
	s.Server.Close()
}

// SetMode changes how the next requests are answered; code is the API code for Refuse.
func (s *Server) SetMode(m Mode, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
	if code != 0 {
		s.refuseCode = code
	}
}

// Calls is the number of method=order requests received.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Issued lists the numbers handed out, in order.
func (s *Server) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// Params lists the decoded param JSON of every request, in order.
func (s *Server) Params() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.params...)
}

func reply(w http.ResponseWriter, success bool, code int, msg string, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"success": success, "code": code, "message": msg, "data": data})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	param := f.Get("param")
	if f.Get("method") != "order" {
		reply(w, false, 30001, "unknown method", nil)
		return
	}
	if f.Get("key") != s.Key || f.Get("sign") != ewaybill.Sign(param, f.Get("t"), s.Key, s.Secret) {
		reply(w, false, 30002, "签名错误", nil)
		return
	}
	var p map[string]any
	if json.Unmarshal([]byte(param), &p) != nil {
		reply(w, false, 30001, "param is not JSON", nil)
		return
	}
	s.mu.Lock()
	s.calls++
	s.params = append(s.params, p)
	mode, code, n := s.mode, s.refuseCode, s.calls
	s.mu.Unlock()
	switch mode {
	case Status5xx:
		http.Error(w, "upstream down", http.StatusInternalServerError)
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.hang:
		}
	case Refuse:
		reply(w, false, code, "账号异常 / account refused", nil)
	case Invalid:
		reply(w, true, 200, "ok", map[string]any{"kuaidinum": "NOT-A-WAYBILL"})
	default:
		num := number(fmt.Sprint(p["kuaidicom"]), n)
		s.mu.Lock()
		s.issued = append(s.issued, num)
		s.mu.Unlock()
		reply(w, true, 200, "ok", map[string]any{"kuaidinum": num, "bulkpen": "上海 100", "taskId": fmt.Sprintf("task%d", n)})
	}
}

// number makes the n-th number in the carrier's format (order/waybill).
func number(kuaidicom string, n int) string {
	switch kuaidicom {
	case "shunfeng":
		return fmt.Sprintf("SF1%012d", n)
	case "yuantong":
		return fmt.Sprintf("YT%013d", n)
	case "shentong":
		return fmt.Sprintf("77%012d", n)
	case "yunda":
		return fmt.Sprintf("31%013d", n)
	default: // zhongtong and the rest
		return fmt.Sprintf("78%012d", n)
	}
}
