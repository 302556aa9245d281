package uplink

import (
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"wedge/internal/logging"
	"wedge/sync/wire"
)

// A catch-up request says Subscribed (wire.CatchupRequest) when the broker confirmed, on the
// connection it goes out on, our subscription to the site's orders topic: then the hub stops the
// replay at the end of its log as it was when it recorded the request, since everything after
// reaches us live. Hence the connect's catch-up waits for the SUBACK.
//
// A request carried over by paho to a later connection (sent just before a drop) may arrive before
// that connection's subscription; the later connection's own catch-up, from the contiguous
// position and sent after its SUBACK, covers whatever was published before it. So only an uplink
// that asks on every connect (Options.CatchupSince) says Subscribed.

// subscribed reports whether a request sent now may say Subscribed.
func (u *Uplink) subscribed() bool {
	g := u.gen.Load()
	return u.opts.CatchupSince != nil && g != 0 && u.subGen.Load() == g && u.connected.Load()
}

// awaitSubscribed waits (on its own goroutine: paho's handlers never block) for the SUBACK of
// connection gen's subscriptions, records it, then sends the connect's catch-up request: from
// Options.CatchupSince, or from pending (a request made while disconnected) if lower.
func (u *Uplink) awaitSubscribed(tok mqtt.Token, gen uint64, pending *uint64) {
	u.mu.Lock()
	if u.stopping {
		u.mu.Unlock()
		return
	}
	u.subWaits.Add(1)
	u.mu.Unlock()
	go func() {
		defer u.subWaits.Done()
		if !u.confirmSubscribed(tok, gen) {
			return // stopping
		}
		since, ask := uint64(0), false
		if u.opts.CatchupSince != nil {
			since, ask = u.opts.CatchupSince(), true
		}
		if pending != nil && (!ask || *pending < since) {
			since, ask = *pending, true
		}
		if ask {
			u.sendCatchup(since)
		}
	}()
}

// confirmSubscribed waits for tok, the connect's subscriptions, and records gen as confirmed when
// the SUBACK granted the orders topic. paho may complete the token without the SUBACK's codes (a
// subscribe made while it still counts itself connecting is stored and sent from its session
// store under a token of its own, which takes over the message id: seen on first connects); then
// the orders topic is subscribed again (the broker replaces a subscription with itself), up to
// subscribeTries times. It reports false when the uplink is stopping.
func (u *Uplink) confirmSubscribed(tok mqtt.Token, gen uint64) bool {
	topic := wire.TopicOrders(u.opts.Site)
	t := time.NewTimer(subscribeWait) // real time, like paho's own timeouts
	defer t.Stop()
	for try := 1; ; try++ {
		select {
		case <-tok.Done():
		case <-t.C:
			u.log.Warn("订阅未确认 / no SUBACK yet; the catch-up goes to the end of the hub's log", "waited", subscribeWait)
			return true
		case <-u.stopped:
			return false
		}
		granted, err := subscribeResult(tok, topic)
		switch {
		case err != nil:
			u.log.Warn("订阅未确认 / subscription not confirmed; the catch-up goes to the end of the hub's log", logging.Err(err))
			return true
		case granted:
			if u.gen.Load() == gen {
				u.subGen.Store(gen)
			}
			return true
		case try == subscribeTries || u.gen.Load() != gen:
			u.log.Warn("订阅未确认 / subscription not confirmed; the catch-up goes to the end of the hub's log", "tries", try)
			return true
		}
		tok = u.cli.Subscribe(topic, 1, nil)
	}
}

// subscribeResult reports whether the SUBACK of tok granted topic; err is the token's error or the
// broker's refusal (0x80). Neither: the token completed without the SUBACK's codes.
func subscribeResult(tok mqtt.Token, topic string) (granted bool, err error) {
	if err := tok.Error(); err != nil {
		return false, err
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return false, nil
	}
	q, ok := st.Result()[topic]
	if ok && q >= 0x80 {
		return false, fmt.Errorf("broker refused the subscription to %s (SUBACK code %#x)", topic, q)
	}
	return ok, nil
}
