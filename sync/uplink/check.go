package uplink

// CheckTLS loads every certificate and key the options name (the broker CA, the client certificate
// and its key) and checks they fit the broker URL, without connecting: `wedge run --check` uses it so
// that a missing or unreadable file is found before the service starts.
func CheckTLS(o Options) error {
	_, err := tlsConfig(o)
	return err
}
