package mail_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wedge/internal/mail"
	"wedge/internal/mail/mailtest"
)

// parts parses a delivered message and returns its leaf parts by content type (decoded), with the
// attachment's file name under "file:NAME".
func parts(t *testing.T, data string) map[string]string {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(ct string, body io.Reader)
	walk = func(ct string, body io.Reader) {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Fatalf("content type %q: %v", ct, err)
		}
		if !strings.HasPrefix(mt, "multipart/") {
			t.Fatalf("not multipart: %s", mt)
		}
		r := multipart.NewReader(body, params["boundary"])
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pct := p.Header.Get("Content-Type")
			if strings.HasPrefix(pct, "multipart/") {
				walk(pct, p)
				continue
			}
			b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			if err != nil {
				t.Fatal(err)
			}
			key := strings.Split(pct, ";")[0]
			if fn := p.FileName(); fn != "" {
				key = "file:" + fn
			}
			out[key] = string(b)
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body)
	return out
}

func TestSendReachesTheServer(t *testing.T) {
	srv := mailtest.Start(t)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mail.Config{Host: srv.Host(), Port: srv.Port(), From: "hub@example.com", To: []string{"a@example.com", "b@example.com"},
		Username: "hub", PasswordFile: pw}
	err := c.Send(context.Background(), mail.Message{Subject: "日报 report", Text: "正文 body", HTML: []byte("<p>表</p>"),
		Attachments: []mail.Attachment{{Name: "r.csv", ContentType: "text/csv", Data: []byte("a,b\n1,2\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("messages %d", len(msgs))
	}
	m := msgs[0]
	if m.From != "hub@example.com" || len(m.To) != 2 || m.Auth != "hub" {
		t.Errorf("envelope %+v", m)
	}
	got := parts(t, m.Data)
	if got["text/plain"] != "正文 body" || got["text/html"] != "<p>表</p>" || got["file:r.csv"] != "a,b\n1,2\n" {
		t.Errorf("parts = %q", got)
	}
	if !strings.Contains(m.Data, "Subject: =?utf-8?b?") || !strings.Contains(m.Data, "multipart/alternative") {
		t.Errorf("headers:\n%s", m.Data)
	}
}

func TestStartTLSRequiredButNotOffered(t *testing.T) {
	srv := mailtest.Start(t)
	c := mail.Config{Host: srv.Host(), Port: srv.Port(), From: "hub@example.com", To: []string{"a@example.com"}, StartTLS: true}
	if err := c.Send(context.Background(), mail.Message{Subject: "x"}); !errors.Is(err, mail.ErrSend) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("err = %v", err)
	}
	if len(srv.Messages()) != 0 {
		t.Error("sent without the TLS it was told to use")
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []mail.Config{
		{From: "a@b", To: []string{"c@d"}},
		{Host: "h", From: "nobody", To: []string{"c@d"}},
		{Host: "h", From: "a@b"},
		{Host: "h", From: "a@b", To: []string{"c@d\r\nBcc: x@y"}},
		{Host: "h", From: "a@b", To: []string{"c@d"}, Username: "u"},
	} {
		if err := c.Validate(); !errors.Is(err, mail.ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
