package uplink

// DownlinkAhead is how many checked downlink messages the feeder puts in Downlink's channel ahead
// of the consumer. With an unbuffered channel the feeder could hand over one message at a time, and
// a consumer that gathers what is waiting (the agent's pump: the arrays that arrived together in
// one journal commit, at most 32) found one or two: under a burst of downlink arrays that was a
// journal commit per array. The signatures are checked before a message enters the channel, as
// before; the messages still queued when Stop closes it are the consumer's to drain.
const DownlinkAhead = 64
