// Package webauth is the authentication of wedge's web consoles, shared by the agent's supervisor
// console and the hub: HMAC-signed session cookies with a per-session CSRF token (Sessions), a
// failed-login throttle keyed by user name and address (Throttle) and the Origin checks for
// state-changing requests and WebSocket upgrades (Origins). Password hashes are in the pure
// sub-package password.
package webauth
