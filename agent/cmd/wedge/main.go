// Command wedge is the warehouse edge agent (仓库边缘代理) and its tools: the agent daemon, the
// reference hub, the demo, journal verification and firmware profile validation. `wedge help`
// lists the subcommands and exit codes. main only calls run.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
