package main

import (
	"flag"
	"fmt"
	"strings"

	"wedge/internal/mail"
	"wedge/internal/webauth"
	"wedge/order"
	"wedge/sync/hub"
	"wedge/sync/hub/central"
	"wedge/sync/hub/hubconfig"
	"wedge/sync/hub/hubconsole"
)

// hubRunFlags are `wedge hub`'s run flags. Each names a field of hub.yaml (hubconfig); without
// --config they are the whole configuration, and with it a flag given explicitly on the command line
// overrides the file.
type hubRunFlags struct {
	config string
	check  bool

	broker, data, store, listen, clientID, replica, ca, cert, key, username, password string
	tlsCert, tlsKey, allowed, bootstrap, level, format, metricsAuth                   string
	shared                                                                            bool

	keys hubKeyFlags
	// set applies one explicitly given flag to the configuration, by flag name.
	set map[string]func(c *hubconfig.Config)
}

func (f *hubRunFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "中心配置文件 hub configuration file (hub.yaml, docs/hub.example.yaml); flags given explicitly override it")
	fs.BoolVar(&f.check, "check", false, "检查配置后退出 validate the configuration (and read the signing key), then exit")
	fs.StringVar(&f.broker, "broker", hubconfig.DefaultBrokerURL, "MQTT broker URL (tcp:// or ssl://)")
	fs.StringVar(&f.data, "data", hubconfig.DefaultDataDir, "data directory (hub.db)")
	fs.StringVar(&f.store, "store", "", storeFlagHelp)
	fs.StringVar(&f.listen, "listen", hubconfig.DefaultListen, "HTTP listen address")
	fs.StringVar(&f.clientID, "client-id", "", "MQTT client id (default wedge-hub-<hostname>[-<replica>])")
	fs.StringVar(&f.replica, "replica", "", "副本名（同一主机上多个中心副本各取一个）replica name, appended to the default client id; give each replica on one host its own")
	fs.BoolVar(&f.shared, "shared", true, "共享订阅 shared subscription: several hubs split the stream (they must share one store)")
	fs.StringVar(&f.ca, "ca", "", "CA file for TLS")
	fs.StringVar(&f.cert, "cert", "", "client certificate for TLS")
	fs.StringVar(&f.key, "key", "", "client key for TLS")
	fs.StringVar(&f.username, "username", "", "broker user name")
	fs.StringVar(&f.password, "password", "", "broker password")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "API 的 HTTPS 证书 certificate for serving the API over HTTPS (with --tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "API 的 HTTPS 私钥 key of --tls-cert")
	fs.StringVar(&f.allowed, "allowed-hosts", "", "API 接受的主机名（逗号分隔；localhost 总是接受）host names the API answers to, comma-separated (localhost and the --listen IP always)")
	fs.StringVar(&f.bootstrap, "bootstrap-token-file", "", "令牌库为空时写出管理员令牌到此文件 write an admin token to this file when the hub has no token yet")
	fs.StringVar(&f.metricsAuth, "metrics-auth", hubconfig.DefaultMetricsAuth, "GET /metrics: read（需要 read 令牌 needs a token with the read scope）or open（无需令牌 like /healthz）")
	fs.StringVar(&f.level, "log-level", hubconfig.DefaultLogLevel, "日志级别 log level: debug, info, warn or error")
	fs.StringVar(&f.format, "log-format", hubconfig.DefaultLogFormat, "日志格式 log format: text or json")
	f.keys.register(fs)
	f.set = map[string]func(c *hubconfig.Config){
		"broker":               func(c *hubconfig.Config) { c.Broker.URL = f.broker },
		"data":                 func(c *hubconfig.Config) { c.DataDir = f.data },
		"store":                func(c *hubconfig.Config) { c.Store = f.store },
		"listen":               func(c *hubconfig.Config) { c.API.Listen = f.listen },
		"client-id":            func(c *hubconfig.Config) { c.Broker.ClientID = f.clientID },
		"replica":              func(c *hubconfig.Config) { c.Broker.Replica = f.replica },
		"shared":               func(c *hubconfig.Config) { c.Broker.Shared = &f.shared },
		"ca":                   func(c *hubconfig.Config) { c.Broker.CA = f.ca },
		"cert":                 func(c *hubconfig.Config) { c.Broker.Cert = f.cert },
		"key":                  func(c *hubconfig.Config) { c.Broker.Key = f.key },
		"username":             func(c *hubconfig.Config) { c.Broker.Username = f.username },
		"password":             func(c *hubconfig.Config) { c.Broker.Password = f.password },
		"tls-cert":             func(c *hubconfig.Config) { c.API.TLSCert = f.tlsCert },
		"tls-key":              func(c *hubconfig.Config) { c.API.TLSKey = f.tlsKey },
		"allowed-hosts":        func(c *hubconfig.Config) { c.API.AllowedHosts = splitList(f.allowed) },
		"bootstrap-token-file": func(c *hubconfig.Config) { c.API.BootstrapTokenFile = f.bootstrap },
		"metrics-auth":         func(c *hubconfig.Config) { c.API.MetricsAuth = f.metricsAuth },
		"log-level":            func(c *hubconfig.Config) { c.Log.Level = f.level },
		"log-format":           func(c *hubconfig.Config) { c.Log.Format = f.format },
		"signing-key":          func(c *hubconfig.Config) { c.SigningKey = f.keys.signingKey },
		"agent-keys":           func(c *hubconfig.Config) { c.AgentKeys = f.keys.agentKeys },
	}
}

// resolve returns the configuration: the file of --config (or the defaults), then every flag given
// explicitly on the command line.
func (f *hubRunFlags) resolve(fs *flag.FlagSet) (*hubconfig.Config, error) {
	cfg := hubconfig.Defaults()
	if f.config != "" {
		var err error
		if cfg, err = hubconfig.Load(f.config); err != nil {
			return nil, err
		}
	}
	fs.Visit(func(fl *flag.Flag) {
		if set, ok := f.set[fl.Name]; ok {
			set(cfg)
		}
	})
	if cfg.API.MetricsAuth != hubconfig.MetricsRead && cfg.API.MetricsAuth != hubconfig.MetricsOpen {
		return nil, fmt.Errorf("--metrics-auth %q: want read or open", cfg.API.MetricsAuth)
	}
	return cfg, nil
}

// hubOptions maps the configuration to hub.Options (the signing key and logger are set by the caller).
func hubOptions(c *hubconfig.Config) hub.Options {
	shared := c.SharedSubscription()
	o := hub.Options{
		BrokerURL: c.Broker.URL, DataDir: c.DataDir, Listen: c.API.Listen, ClientID: c.Broker.ClientID, Replica: c.Broker.Replica,
		CAFile: c.Broker.CA, CertFile: c.Broker.Cert, KeyFile: c.Broker.Key,
		Username: c.Broker.Username, Password: c.Broker.Password, Shared: &shared,
		TLSCertFile: c.API.TLSCert, TLSKeyFile: c.API.TLSKey, BootstrapTokenFile: c.API.BootstrapTokenFile,
		MetricsOpen: c.API.MetricsAuth == hubconfig.MetricsOpen,
	}
	o.HTTP.AllowedHosts = append(o.HTTP.AllowedHosts, c.API.AllowedHosts...)
	o.Measures = hubMeasures(c)
	o.Pickup = map[string]order.PickupPolicy{}
	for name, s := range c.Sites {
		if p, err := order.ParsePickupPolicy(s.Pickup); err == nil { // validated with the file
			o.Pickup[name] = p
		}
	}
	return o
}

// hubMeasures maps sites:, measures: and smtp: to the hub's measures options.
func hubMeasures(c *hubconfig.Config) hub.MeasuresOptions {
	m := c.Measures
	within, presale := m.Durations()
	o := hub.MeasuresOptions{ReportAt: m.ReportAt, Tick: m.TickDuration(), Options: central.Options{Zone: m.Zone, Within: within, Goal: m.PickupGoal, Warn: m.PickupWarn,
		ConsistencyGoal: m.ConsistencyGoal, ConsistencyWarn: m.ConsistencyWarn, PresaleLimit: presale, SiteZones: map[string]string{}}}
	for name, s := range c.Sites {
		if s.Zone != "" {
			o.SiteZones[name] = s.Zone
		}
	}
	if c.SMTP.Host != "" {
		o.Mailer = smtpConfig(c)
	}
	return o
}

// smtpConfig is the relay of smtp: (the daily report's and the e-mail channels').
func smtpConfig(c *hubconfig.Config) mail.Config {
	s := c.SMTP
	return mail.Config{Host: s.Host, Port: s.Port, From: s.From, To: s.To, Username: s.Username, PasswordFile: s.PasswordFile, StartTLS: s.StartTLS}
}

// hubConsoleOptions maps console: to the central console's options, reading the session key file;
// nil without users (no console).
func hubConsoleOptions(c *hubconfig.Config) (*hubconsole.Options, error) {
	if len(c.Console.Users) == 0 {
		return nil, nil
	}
	key, err := c.SessionKey()
	if err != nil {
		return nil, err
	}
	if key != nil && len(key) < webauth.MinKeyLen {
		return nil, fmt.Errorf("console.session_key_file %s: 密钥过短 the key has %d bytes, want at least %d", c.Console.SessionKeyFile, len(key), webauth.MinKeyLen)
	}
	o := &hubconsole.Options{SessionKey: key, AllowedOrigins: c.Console.AllowedOrigins, SecureCookies: c.Console.SecureCookies}
	for _, u := range c.Console.Users {
		o.Users = append(o.Users, hubconsole.User{Name: u.Name, Role: u.Role, PasswordHash: u.PasswordHash})
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}
