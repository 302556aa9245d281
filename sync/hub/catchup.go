package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"wedge/internal/logging"
	"wedge/sync/wire"
)

// Catch-up answers are bounded and paced, so that a catch-up request (28 bytes) can no longer make
// the hub replay its whole downlink log, and a burst of requests no longer makes it do so again and
// again.
//
//   - An answer is one page: at most PageMessages messages and PageBytes bytes of message JSON (at
//     least one message), published on the agent's direct topic in arrays of up to 200.
//   - Pages to one agent are at least Interval apart, and at most PerMinute in a minute.
//   - A request that arrives too early is not answered at once: the agent gets one deferred request,
//     answered as soon as its pace allows. Further requests meanwhile are merged into it (the lowest
//     since wins, so nothing is skipped), counted (Stats.CatchupsMerged) and logged; they cost no
//     extra page. The agent's intake asks once per gap and does not ask again, so the hub must not
//     simply drop a request it cannot answer yet.
//   - A page that stops before the end of the log is followed by the next one, from the last hseq it
//     carried, at the same pace, until the end of the log is reached: a catch-up is answered in
//     full. An agent that sees a gap in the meantime may ask again from its last hseq; that merges.
//   - The end is the log's end as it was when the request was recorded, if the request says the
//     agent's subscription to the site's live topic was confirmed before it was sent
//     (wire.CatchupRequest.Subscribed): every hseq above that end is committed after the request
//     reached the hub, so whichever replica commits it publishes it live after the subscription,
//     and a catch-up that went on would only replay what the agent has (a burst of POSTs behind a
//     connect's catch-up used to be replayed in full). A live message lost on the way is a gap the
//     agent asks for again, as it always was. A request without it is answered to the end of the
//     log, however far it moves meanwhile; merged requests take the lowest since and the highest
//     end, and no end when any of them has none.
//
// Pacing runs on the wall clock (like the MQTT client's backoff), not Options.Clock. Who may send a
// catch-up request for an agent is the broker's business (its ACL lets an agent publish only on its
// own topics) and the signatures' (signed requests); the pacer only bounds what any one name costs.

// CatchupLimits bound catch-up answers. Zero fields take the defaults.
type CatchupLimits struct {
	// PageMessages is the most messages in one answer (default 1000).
	PageMessages int
	// PageBytes is the most bytes of message JSON in one answer (default 256 KiB); a single larger
	// message is still sent, alone.
	PageBytes int
	// Interval is the least time between two pages to one agent (default 200 ms).
	Interval time.Duration
	// PerMinute is the most pages to one agent in a minute (default 60).
	PerMinute int
}

func (l CatchupLimits) withDefaults() CatchupLimits {
	if l.PageMessages <= 0 {
		l.PageMessages = 1000
	}
	if l.PageBytes <= 0 {
		l.PageBytes = 256 << 10
	}
	if l.Interval <= 0 {
		l.Interval = 200 * time.Millisecond
	}
	if l.PerMinute <= 0 {
		l.PerMinute = 60
	}
	return l
}

// paced is one agent's catch-up state.
type paced struct {
	site, agent string
	last        time.Time // when the last page was sent
	window      time.Time // start of the current minute
	pages       int       // pages sent in that minute
	pending     bool      // a deferred request or a continuation waits
	since       uint64    // ... for the messages after this hseq
	until       uint64    // ... up to this one (noBound: to the end of the log)
	merged      int       // requests merged since the last log line about it
	warned      time.Time // of that line
}

// noBound is the until of a catch-up answered to the end of the log, however far it moves.
const noBound = ^uint64(0)

// allowedAt is when the next page to a may go.
func (a *paced) allowedAt(l CatchupLimits) time.Time {
	t := a.last.Add(l.Interval)
	if a.pages >= l.PerMinute {
		if end := a.window.Add(time.Minute); end.After(t) {
			t = end
		}
	}
	return t
}

// pacer is the owner goroutine's pacing state. Only its timer callback runs elsewhere, and it only
// queues an item.
type pacer struct {
	lim    CatchupLimits
	agents map[string]*paced // site 0 agent
	timer  *time.Timer
	due    time.Time // when timer fires; zero when not armed
	now    func() time.Time
}

// catchupPacer is h.pacer, made on first use (a Hub built by New has one).
func (h *Hub) catchupPacer() *pacer {
	if h.pacer == nil {
		h.pacer = newPacer(h.opts.Catchup)
	}
	return h.pacer
}

func newPacer(l CatchupLimits) *pacer {
	return &pacer{lim: l.withDefaults(), agents: map[string]*paced{}, now: time.Now}
}

func (p *pacer) get(site, agent string) *paced {
	k := string(join(site, agent))
	a := p.agents[k]
	if a == nil {
		a = &paced{site: site, agent: agent}
		p.agents[k] = a
	}
	return a
}

// catchupRequested handles one catch-up request after the commit that recorded it: answer now,
// defer, or merge into the deferred one.
func (h *Hub) catchupRequested(c catchup) {
	p := h.catchupPacer()
	a := p.get(c.site, c.agent)
	now := p.now()
	if c.until == 0 {
		c.until = noBound
	}
	switch {
	case a.pending:
		if c.since < a.since {
			a.since = c.since
		}
		a.until = max(a.until, c.until) // noBound is the highest
		h.countOutside(func(s *Stats) { s.CatchupsMerged++ })
		a.merged++
		if now.Sub(a.warned) >= time.Minute {
			h.log.Warn("catch-up requests faster than the hub answers them: merged into the waiting one", logging.KeySite, c.site,
				logging.KeyAgent, c.agent, "merged", a.merged, "since_hseq", a.since)
			a.merged, a.warned = 0, now
		}
	case now.Before(a.allowedAt(p.lim)):
		a.pending, a.since, a.until = true, c.since, c.until
		h.countOutside(func(s *Stats) { s.CatchupsDeferred++ })
		h.log.Debug("catch-up request deferred by the pace", logging.KeySite, c.site, logging.KeyAgent, c.agent, "since_hseq", c.since)
	default:
		h.answerCatchup(a, c.since, c.until, now)
	}
	h.schedulePending(now)
}

// servePending answers every deferred request whose time has come.
func (h *Hub) servePending() {
	p := h.catchupPacer()
	p.due = time.Time{}
	now := p.now()
	for _, a := range p.agents {
		if a.pending && !now.Before(a.allowedAt(p.lim)) {
			a.pending = false
			h.answerCatchup(a, a.since, a.until, now)
		}
	}
	h.schedulePending(now)
}

// schedulePending arms the timer for the earliest deferred request and forgets idle agents.
func (h *Hub) schedulePending(now time.Time) {
	p := h.pacer
	var next time.Time
	for k, a := range p.agents {
		if !a.pending {
			if now.Sub(a.last) > time.Minute+p.lim.Interval && now.Sub(a.window) > time.Minute {
				delete(p.agents, k)
			}
			continue
		}
		if t := a.allowedAt(p.lim); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if next.IsZero() || (!p.due.IsZero() && !next.Before(p.due)) {
		return
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.due = next
	p.timer = time.AfterFunc(next.Sub(now), func() {
		select {
		case <-h.quit:
		default:
			h.enqueue(item{kind: kindCatchupDue, topic: "catch-up pace"})
		}
	})
}

// answerCatchup publishes one page of the hseqs in (since, until] to a's direct topic. A page that
// stops before until and before the end of the log leaves a continuation pending from its last
// hseq.
func (h *Hub) answerCatchup(a *paced, since, until uint64, now time.Time) {
	p := h.pacer
	if since >= until {
		return // the agent has everything up to the end: no answer, and no page spent
	}
	msgs, more, err := h.readPage(a.site, since, until, p.lim)
	if err != nil {
		h.log.Error("catch-up replay failed", logging.KeySite, a.site, logging.KeyAgent, a.agent, "since_hseq", since, logging.Err(err))
		return
	}
	if len(msgs) == 0 {
		return // nothing after since: no answer, and no page spent
	}
	h.publishChunks(wire.TopicDirect(a.site, a.agent), msgs, true)
	a.last = now
	if now.Sub(a.window) >= time.Minute {
		a.window, a.pages = now, 0
	}
	a.pages++
	if more {
		a.pending, a.since, a.until = true, msgs[len(msgs)-1].HSeq, until
	}
	h.countOutside(func(s *Stats) { s.CatchupPages++ })
}

// readPage reads the site's downlink after since, up to until: at most lim.PageMessages messages
// and lim.PageBytes bytes (at least one message). more reports that the log goes on before until.
func (h *Hub) readPage(site string, since, until uint64, lim CatchupLimits) (msgs []wire.OrderMsg, more bool, err error) {
	err = h.db.View(context.Background(), func(tx Tx) error {
		size := 0
		return tx.Downlink(site, since, func(hseq uint64, v []byte) (bool, error) {
			if hseq > until {
				return false, nil
			}
			if len(msgs) == lim.PageMessages || len(msgs) > 0 && size+len(v) > lim.PageBytes {
				more = true
				return false, nil
			}
			var m wire.OrderMsg
			if err := json.Unmarshal(v, &m); err != nil {
				return false, fmt.Errorf("%w: downlink %s/%d: %v", ErrStore, site, hseq, err)
			}
			msgs = append(msgs, m)
			size += len(v) + 1
			return true, nil
		})
	})
	return msgs, more, err
}
