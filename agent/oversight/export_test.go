package oversight

import "wedge/agent/console"

// SourceOf exposes the console.Source of o to the tests.
func SourceOf(o *Oversight) console.Source { return o.src }
