// Package mailtest is a tiny SMTP server for tests: it accepts every message on 127.0.0.1 (EHLO,
// MAIL, RCPT, DATA, RSET, NOOP, QUIT; AUTH PLAIN accepted and recorded) and keeps what it got.
// Plain text only: no STARTTLS.
package mailtest

import (
	"bufio"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
)

// Message is one delivered message.
type Message struct {
	From string
	To   []string
	Data string // as sent, dot-unstuffed, CRLF line ends
	Auth string // the AUTH PLAIN user, "" without AUTH
}

// Server is a running test server.
type Server struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []Message
	wg   sync.WaitGroup
}

// Start starts a server; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// Host and Port are where it listens.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the server's port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Messages returns what was delivered so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.serve(c)
		}()
	}
}

// serve runs one session.
func (s *Server) serve(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = c.Write([]byte(line + "\r\n")) }
	say("220 mailtest ready")
	var m Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			say("250-mailtest")
			say("250 AUTH PLAIN")
		case "HELO", "NOOP":
			say("250 ok")
		case "AUTH":
			if f := strings.Fields(arg); len(f) == 2 {
				b, _ := base64.StdEncoding.DecodeString(f[1])
				if parts := strings.Split(string(b), "\x00"); len(parts) == 3 {
					m.Auth = parts[1]
				}
			}
			say("235 authenticated")
		case "MAIL":
			m.From = addr(arg)
			say("250 ok")
		case "RCPT":
			m.To = append(m.To, addr(arg))
			say("250 ok")
		case "DATA":
			say("354 go ahead")
			m.Data = readData(r)
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			m = Message{Auth: m.Auth}
			say("250 queued")
		case "RSET":
			m = Message{Auth: m.Auth}
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

func addr(arg string) string {
	_, a, _ := strings.Cut(arg, ":")
	return strings.Trim(strings.TrimSpace(a), "<>")
}

func readData(r *bufio.Reader) string {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return b.String()
		}
		if line == ".\r\n" || line == ".\n" {
			return b.String()
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}
