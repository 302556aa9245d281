package mail_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wedge/internal/mail"
	"wedge/internal/mail/mailtest"
)

// decodeParts returns the base64 bodies of a message's parts, decoded.
func decodeParts(data string) string {
	var out strings.Builder
	for _, block := range strings.Split(data, "\r\n\r\n") {
		b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(strings.TrimSpace(strings.Split(block, "\r\n--")[0]), "\r\n", ""))
		if err == nil && len(b) > 0 {
			out.Write(b)
			out.WriteString("\n")
		}
	}
	return out.String()
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
	body := decodeParts(m.Data)
	for _, want := range []string{"正文 body", "<p>表</p>", "a,b\n1,2"} {
		if !strings.Contains(body, want) {
			t.Errorf("message lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(m.Data, `filename=r.csv`) || !strings.Contains(m.Data, "Subject: =?utf-8?b?") {
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
