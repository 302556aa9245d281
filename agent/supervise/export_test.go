package supervise

import "wedge/agent/console"

// SourceOf exposes the console.Source of s to the tests.
func SourceOf(s *Supervisor) console.Source { return (*source)(s) }
