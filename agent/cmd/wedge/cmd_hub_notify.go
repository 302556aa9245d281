package main

import (
	"bytes"
	"fmt"
	"os"

	"wedge/internal/msgtmpl"
	"wedge/sync/hub"
	"wedge/sync/hub/hubconfig"
)

// hubNotify builds the hub's notification options from hub.yaml's notify: section (nil: none).
// The section was checked when it was loaded; what is left to fail here is reading the webhook
// secrets.
func hubNotify(c *hubconfig.Config) (*hub.NotifyOptions, error) {
	n := c.Notify
	if n == nil {
		return nil, nil
	}
	o := &hub.NotifyOptions{Channels: map[string]hub.Channel{}, Sites: map[string]hub.SiteRules{},
		Lease: hubconfig.Duration(n.Lease), Backoff: hubconfig.Duration(n.Backoff), MaxBackoff: hubconfig.Duration(n.MaxBackoff),
		MaxAttempts: n.MaxAttempts, Poll: hubconfig.Duration(n.Poll)}
	for name, ch := range n.Channels {
		var err error
		if o.Channels[name], err = hubChannel(c, ch); err != nil {
			return nil, fmt.Errorf("notify.channels.%s: %w", name, err)
		}
	}
	tmpl := func(s string, fields []string) *msgtmpl.Template {
		if s == "" {
			return nil
		}
		return msgtmpl.MustParse(s, fields) // checked by hubconfig
	}
	for site, r := range n.Sites {
		var rules hub.SiteRules
		if r.Reminder != nil {
			rules.Reminder = &hub.ReminderRule{After: hubconfig.Duration(r.Reminder.After), Channel: r.Reminder.Channel,
				Text: tmpl(r.Reminder.Text, msgtmpl.OrderFields)}
		}
		if f := r.FalseCompletion; f != nil {
			rules.FalseCompletion = &hub.FalseCompletionRule{After: hubconfig.Duration(f.After), Channel: f.Channel,
				Text: tmpl(f.Text, msgtmpl.OrderFields)}
		}
		if k := r.KPIWarning; k != nil {
			rules.KPIWarning = &hub.KPIWarningRule{Channel: k.Channel, Warn: k.Warn, Goal: k.Goal, MinOrders: k.MinOrders,
				Text: tmpl(k.Text, msgtmpl.KPIFields)}
		}
		if r.Breaker != nil {
			rules.Breaker = &hub.BreakerRule{Channel: r.Breaker.Channel, Opened: tmpl(r.Breaker.Opened, msgtmpl.BreakerFields),
				Closed: tmpl(r.Breaker.Closed, msgtmpl.BreakerFields)}
		}
		o.Sites[site] = rules
	}
	return o, nil
}

func hubChannel(c *hubconfig.Config, ch hubconfig.Channel) (hub.Channel, error) {
	timeout := hubconfig.Duration(ch.Timeout)
	if ch.Type == hubconfig.ChannelEmail {
		m := smtpConfig(c) // smtp.host is set: hubconfig refuses an e-mail channel without it
		m.Timeout = timeout
		return hub.NewEmail(hub.EmailOptions{Mailer: m, To: ch.To})
	}
	if ch.Type == hubconfig.ChannelWebhook {
		secret, err := os.ReadFile(ch.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("签名密钥文件 secret file: %w", err)
		}
		if secret = bytes.TrimSpace(secret); len(secret) == 0 {
			return nil, fmt.Errorf("签名密钥文件为空 secret file %s is empty", ch.SecretFile)
		}
		return hub.NewWebhook(hub.WebhookOptions{URL: ch.URL, Secret: secret, Timeout: timeout})
	}
	headers := map[string]*msgtmpl.Template{}
	for k, v := range ch.Headers {
		headers[k] = msgtmpl.MustParse(v, msgtmpl.SMSFields)
	}
	return hub.NewSMS(hub.SMSOptions{URL: msgtmpl.MustParse(ch.URL, msgtmpl.SMSFields), Method: ch.Method, Headers: headers,
		Body: msgtmpl.MustParse(ch.Body, msgtmpl.SMSFields), Escape: msgtmpl.Escapes[ch.Escape], Timeout: timeout})
}

// hubTracking builds the tracking options from hub.yaml's tracking: section (nil: no Kuaidi100
// pushes).
func hubTracking(c *hubconfig.Config) (*hub.TrackingOptions, error) {
	if c.Tracking.Kuaidi100SaltFile == "" {
		return nil, nil
	}
	salt, err := os.ReadFile(c.Tracking.Kuaidi100SaltFile)
	if err != nil {
		return nil, fmt.Errorf("tracking.kuaidi100_salt_file: %w", err)
	}
	if salt = bytes.TrimSpace(salt); len(salt) == 0 {
		return nil, fmt.Errorf("tracking.kuaidi100_salt_file %s is empty", c.Tracking.Kuaidi100SaltFile)
	}
	return &hub.TrackingOptions{Kuaidi100Salt: string(salt)}, nil
}
