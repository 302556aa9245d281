// Package mail sends e-mail through an SMTP relay: a plain-text/HTML message with attachments,
// STARTTLS when asked (and refused without it when asked), AUTH PLAIN with a password read from a
// file. It is the standard library's net/smtp behind a small Config: the hub's daily report and
// the supervisors' notices need nothing more (no pooling, no retries queue: a failed send is the
// caller's error to log and retry).
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrConfig means an unusable configuration.
	ErrConfig = errors.New("mail: invalid configuration")
	// ErrSend means the relay refused or the connection failed. The cause stays in the chain: a
	// relay's answer is a *textproto.Error (its Code tells a temporary 4xx from a permanent 5xx).
	ErrSend = errors.New("mail: send failed")
)

// Config is an SMTP relay (hub.yaml smtp:).
type Config struct {
	Host         string   `yaml:"host"`
	Port         int      `yaml:"port"` // default 587 with StartTLS, else 25
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	StartTLS     bool     `yaml:"starttls"`
	// TLS verifies the relay's certificate with STARTTLS (nil: the system roots, ServerName Host).
	TLS *tls.Config `yaml:"-"`
	// Timeout bounds one send (default 30 s).
	Timeout time.Duration `yaml:"-"`
}

// Attachment is a file attached to a message.
type Attachment struct {
	Name, ContentType string
	Data              []byte
}

// Message is one e-mail; To empty means Config.To.
type Message struct {
	// ID, when set, is the Message-ID's local part (the same on every try, so a mailbox that
	// drops repeated Message-IDs drops a resend); letters, digits, '-', '.' and '_' only.
	ID          string
	To          []string
	Subject     string
	Text        string // plain text part
	HTML        []byte // optional HTML part
	Attachments []Attachment
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.Host) == "":
		return fmt.Errorf("%w: host is required", ErrConfig)
	case !strings.Contains(c.From, "@"):
		return fmt.Errorf("%w: from %q is not an address", ErrConfig, c.From)
	case len(c.To) == 0:
		return fmt.Errorf("%w: no recipient (to)", ErrConfig)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("%w: port %d", ErrConfig, c.Port)
	case c.Username != "" && c.PasswordFile == "":
		return fmt.Errorf("%w: username without password_file", ErrConfig)
	}
	for _, to := range c.To {
		if !strings.Contains(to, "@") || strings.ContainsAny(to, "\r\n") {
			return fmt.Errorf("%w: recipient %q is not an address", ErrConfig, to)
		}
	}
	return nil
}

// Send delivers m through the relay.
func (c Config) Send(ctx context.Context, m Message) error {
	if err := c.Validate(); err != nil {
		return err
	}
	to := m.To
	if len(to) == 0 {
		to = c.To
	}
	body, err := c.compose(to, m)
	if err != nil {
		return err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	port := c.Port
	if port == 0 {
		port = 25
		if c.StartTLS {
			port = 587
		}
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(c.Host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSend, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	defer conn.Close()
	if err := c.deliver(conn, to, body); err != nil {
		return fmt.Errorf("%w: %w", ErrSend, err)
	}
	return nil
}

// deliver runs the SMTP dialogue on conn.
func (c Config) deliver(conn net.Conn, to []string, body []byte) error {
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return err
	}
	defer cl.Close()
	if c.StartTLS {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return errors.New("the relay does not offer STARTTLS (starttls: true)")
		}
		tc := c.TLS
		if tc == nil {
			tc = &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
		}
		if err := cl.StartTLS(tc); err != nil {
			return err
		}
	}
	if c.Username != "" {
		pw, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return fmt.Errorf("password_file: %v", err)
		}
		// net/smtp's PlainAuth refuses to send the password over an unencrypted connection
		// except to localhost.
		if err := cl.Auth(smtp.PlainAuth("", c.Username, strings.TrimSpace(string(pw)), c.Host)); err != nil {
			return err
		}
	}
	if err := cl.Mail(c.From); err != nil {
		return err
	}
	for _, r := range to {
		if err := cl.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

// compose builds the MIME message: multipart/mixed of a multipart/alternative (text, HTML) and
// the attachments, every part base64 (UTF-8 text of any length survives any relay).
func (c Config) compose(to []string, m Message) ([]byte, error) {
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, fmt.Errorf("%w: subject with a line break", ErrConfig)
	}
	var b bytes.Buffer
	mixed := multipart.NewWriter(&b)
	if m.ID != "" {
		if strings.Trim(m.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != "" {
			return nil, fmt.Errorf("%w: message id %q", ErrConfig, m.ID)
		}
		_, domain, _ := strings.Cut(c.From, "@")
		fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", m.ID, strings.Trim(domain, "<> "))
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n",
		c.From, strings.Join(to, ", "), mime.BEncoding.Encode("utf-8", m.Subject), time.Now().Format(time.RFC1123Z), mixed.Boundary())
	var alt bytes.Buffer
	aw := multipart.NewWriter(&alt)
	if err := part(aw, "text/plain; charset=utf-8", nil, []byte(m.Text)); err != nil {
		return nil, err
	}
	if m.HTML != nil {
		if err := part(aw, "text/html; charset=utf-8", nil, m.HTML); err != nil {
			return nil, err
		}
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	w, err := mixed.CreatePart(textproto.MIMEHeader{"Content-Type": {"multipart/alternative; boundary=" + aw.Boundary()}})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(alt.Bytes()); err != nil {
		return nil, err
	}
	for _, a := range m.Attachments {
		disp := mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})
		if err := part(mixed, a.ContentType, textproto.MIMEHeader{"Content-Disposition": {disp}}, a.Data); err != nil {
			return nil, err
		}
	}
	if err := mixed.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// part writes one base64 part of content type ct with the extra headers h.
func part(mw *multipart.Writer, ct string, h textproto.MIMEHeader, data []byte) error {
	if h == nil {
		h = textproto.MIMEHeader{}
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Transfer-Encoding", "base64")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		if _, err := fmt.Fprintf(w, "%s\r\n", enc[:76]); err != nil {
			return err
		}
		enc = enc[76:]
	}
	_, err = fmt.Fprintf(w, "%s\r\n", enc)
	return err
}
