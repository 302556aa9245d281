// Package e2e holds the agent's end-to-end tests with real processes: the test builds the real
// wedge binary (with -race), runs a real mosquitto (internal/testbroker), `wedge hub` and `wedge run`
// agents as child processes with configs written by the test, and drives serial scanners on real
// pseudo-terminals (internal/pty). It checks results only through what a person or the hub's owner
// would see: the hub's HTTP API, the agents' API, their logs and `wedge journal verify`.
//
// The broker is set up as in production: TLS with client certificates and the per-identity ACL,
// made by the binary's `wedge certs` in the test's directory; the hub and every agent have their
// own certificate, and everything is signed. Only the forgery tests also run on an anonymous
// plain broker, to show that the signatures alone refuse what anyone could publish there.
//
// The tests are skipped with -short. WEDGE_E2E_BIN names a prebuilt binary to use instead of
// building one (build it with -race). WEDGE_E2E_STORE=postgres puts every test's hub state in a
// fresh PostgreSQL database (internal/testpg; `wedge hub migrate`, then `wedge hub --store`);
// `make test` runs part of the package that way and `make test-pg` all of it. The package has no
// non-test code besides this comment.
package e2e
