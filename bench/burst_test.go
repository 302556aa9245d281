package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"wedge/agent/intake"
	"wedge/agent/journal"
	"wedge/internal/testbroker"
	"wedge/order"
	"wedge/sync/uplink"
	"wedge/sync/wire"
)

// dispatchPerPost is how many orders one POST /v1/orders carries in the burst.
const dispatchPerPost = 1000

// BenchmarkBurst is the open-loop form of the throughput goal: the incident's 47,000-order
// backlog arrives at once, nobody waits for one event before sending the next, so group commit can
// batch as deep as the queue is. Two bursts, each against the paho baseline of the same run:
//
//   - dispatch: the real hub is POSTed the 47,000 orders (47 POSTs of 1,000, all at once); it stores
//     them and publishes them to the site as downlink arrays; the agent's uplink receives them and
//     one pump goroutine applies the arrays with agent/intake.ApplyAll (as agent.Agent does), which
//     journals one intake entry per order, durably; the uplink syncs those entries and the hub
//     stores and acks them → entries/s from the first POST until AckedSeq = 47,000;
//   - steps: 47,000 orders seeded in 待分仓, then 47,000 print-step Store.Do calls submitted at once
//     (one goroutine each), with the uplink syncing and the hub acking → entries/s until acked.
func BenchmarkBurst(b *testing.B) {
	broker := testbroker.Start(b, nil)
	var r burstResult
	for i := 0; i < b.N; i++ {
		r = runBurst(b, broker.URL(), i, incidentBacklog)
	}
	b.ReportMetric(r.baseline, "baseline-msgs/s")
	b.ReportMetric(r.dispatch, "dispatch-entries/s")
	b.ReportMetric(r.dispatch/r.baseline, "dispatch/baseline")
	b.ReportMetric(r.dispatchPerCommit, "dispatch-entries/commit")
	b.ReportMetric(r.steps, "steps-entries/s")
	b.ReportMetric(r.steps/r.baseline, "steps/baseline")
	b.ReportMetric(r.stepsCommit, "steps-commit-entries/s")
	b.ReportMetric(r.stepsPerCommit, "steps-entries/commit")
	b.Logf("baseline paho QoS1 %d×%dB: %.0f msgs/s", incidentBacklog, baselineBytes, r.baseline)
	b.Logf("dispatch burst: %d orders POSTed to the hub, journaled by intake, synced and acked: %.0f entries/s (ratio %.2f), %.1f entries/commit",
		incidentBacklog, r.dispatch, r.dispatch/r.baseline, r.dispatchPerCommit)
	b.ReportMetric(float64(r.intake.Catchups), "dispatch-catchups")
	b.ReportMetric(float64(r.intake.NoOps)/float64(incidentBacklog), "dispatch-replayed/order")
	b.Logf("dispatch burst: intake %+v, %d journal commits", r.intake, r.dispatchCommits)
	b.Logf("step burst: %d Store.Do submitted at once, synced and acked: %.0f entries/s (ratio %.2f); committed at %.0f entries/s, %.1f entries/commit",
		incidentBacklog, r.steps, r.steps/r.baseline, r.stepsCommit, r.stepsPerCommit)
}

type burstResult struct {
	baseline                           float64
	dispatch, dispatchPerCommit        float64
	steps, stepsCommit, stepsPerCommit float64
	intake                             intake.Stats // of the dispatch burst
	dispatchCommits                    uint64       // journal commits during the dispatch burst
}

func runBurst(b testing.TB, url string, run, n int) burstResult {
	dir := b.TempDir()
	var r burstResult
	r.baseline = baseline(b, url, 1000+run, n)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := startHub(b, ctx, url, filepath.Join(dir, "hub"), fmt.Sprintf("bench-burst-hub-%d", run))
	defer stopHub(b, h)

	// Dispatch: hub → downlink → intake → journal → uplink → hub ack.
	agent := fmt.Sprintf("dispatch%d", run)
	st := openJournal(b, filepath.Join(dir, agent+".db"), agent)
	defer st.Close()
	ip := startIntakeAgent(b, ctx, st, url, agent)
	waitConnected(b, ip.u)
	hub0 := h.Stats()
	js0 := st.Stats()
	stopProfile := phaseProfile(b, "dispatch", run)
	start := time.Now()
	dispatch(b, h.Addr(), hubToken(b, h), n)
	waitAcked(b, st, uint64(n))
	r.dispatch = float64(n) / time.Since(start).Seconds()
	stopProfile()
	js := st.Stats()
	ip.stop(b)
	if c := js.Commits - js0.Commits; c > 0 {
		r.dispatchPerCommit = float64(n) / float64(c) // the uplink's Ack commits count too
		r.dispatchCommits = c
	}
	r.intake = ip.in.Stats()
	if s := r.intake; s.Applied != uint64(n) || s.Rejected != 0 {
		b.Fatalf("intake applied %d and rejected %d of %d dispatched orders", s.Applied, s.Rejected, n)
	}
	if last := st.LastSeq(); last != uint64(n) {
		b.Fatalf("the journal holds %d entries after the dispatch burst, want %d (one intake entry per order)", last, n)
	}
	if got := h.Stats().EventsIngested - hub0.EventsIngested; got != uint64(n) {
		b.Fatalf("the hub stored %d entries of the dispatch burst, want exactly %d", got, n)
	}

	// Steps: 47,000 print steps submitted at once.
	agent = fmt.Sprintf("steps%d", run)
	st2 := openJournal(b, filepath.Join(dir, agent+".db"), agent)
	defer st2.Close()
	seed(b, st2, n, order.PendingAllocation)
	up := startUplink(b, ctx, st2, url, agent)
	waitConnected(b, up.u)
	hub1 := h.Stats()
	js0 = st2.Stats()
	stopProfile = phaseProfile(b, "steps", run)
	start = time.Now()
	printSteps(b, st2, n, n)
	r.stepsCommit = float64(n) / time.Since(start).Seconds()
	js = st2.Stats()
	waitAcked(b, st2, uint64(n))
	r.steps = float64(n) / time.Since(start).Seconds()
	stopProfile()
	stopUplink(b, up)
	if c := js.Commits - js0.Commits; c > 0 {
		r.stepsPerCommit = float64(n) / float64(c)
	}
	if got := h.Stats().EventsIngested - hub1.EventsIngested; got != uint64(n) {
		b.Fatalf("the hub stored %d entries of the step burst, want exactly %d", got, n)
	}
	return r
}

// intakeAgent is the agent's downlink path: the uplink's Downlink applied by one pump goroutine
// with intake.ApplyAll, in arrival order, the arrays already waiting together, as agent.Agent's
// pump does.
type intakeAgent struct {
	u      *uplink.Uplink
	in     *intake.Intake
	pumped chan struct{}
}

func startIntakeAgent(b testing.TB, ctx context.Context, st *journal.Store, url, agent string) *intakeAgent {
	a := &intakeAgent{pumped: make(chan struct{})}
	var err error
	a.in, err = intake.New(ctx, st, intake.Options{
		RequestCatchup: func(since uint64) { a.u.RequestCatchup(since) },
	})
	if err != nil {
		b.Fatal(err)
	}
	a.u, err = uplink.New(ctx, st, uplink.Options{URL: url, Site: site, Agent: agent, Window: uplinkWindow, AcceptUnsigned: true,
		CatchupSince: a.in.CatchupSince})
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		defer close(a.pumped)
		cmd := wire.TopicCommand(site, agent)
		dl := a.u.Downlink()
		for m := range dl {
			if m.Topic == cmd {
				continue
			}
			// The arrays already waiting are applied in one commit, as the agent's pump does.
			group := []intake.Payload{{Data: m.Payload, Authenticated: m.Authenticated}}
		more:
			for len(group) < 32 {
				select {
				case m, ok := <-dl:
					if !ok {
						break more
					}
					if m.Topic != cmd {
						group = append(group, intake.Payload{Data: m.Payload, Authenticated: m.Authenticated})
					}
				default:
					break more
				}
			}
			if err := a.in.ApplyAll(context.Background(), group); err != nil {
				b.Errorf("intake: %v", err)
			}
		}
	}()
	return a
}

func (a *intakeAgent) stop(b testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.u.Stop(ctx); err != nil {
		b.Errorf("uplink stop: %v", err)
	}
	<-a.pumped
}

func waitConnected(b testing.TB, u *uplink.Uplink) {
	deadline := time.Now().Add(hangAfter)
	for !u.Connected() {
		if time.Now().After(deadline) {
			b.Fatal("uplink never connected")
		}
		time.Sleep(time.Millisecond)
	}
}

// dispatch POSTs n new orders for the site to the hub, dispatchPerPost per request, all requests
// at once (a busy hub's 503 is retried).
func dispatch(b testing.TB, addr, token string, n int) {
	now := time.Now().UTC().Format(time.RFC3339)
	var wg sync.WaitGroup
	errs := make(chan error, n/dispatchPerPost+1)
	for lo := 0; lo < n; lo += dispatchPerPost {
		orders := make([]wire.OrderMsg, 0, dispatchPerPost)
		for i := lo; i < min(lo+dispatchPerPost, n); i++ {
			orders = append(orders, wire.OrderMsg{Type: wire.TypeOrder, OrderID: orderID(i), Channel: "taobao",
				ChannelOrderNo: strconv.Itoa(4000000000 + i), BuyerID: "buyer" + strconv.Itoa(i%977),
				OrderedAt: now, PaidAt: now, SKUs: []string{"SKU-" + strconv.Itoa(i%311)}, Payment: "full", Carrier: "sf"})
		}
		body, err := json.Marshal(map[string]any{"site": site, "orders": orders})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			deadline := time.Now().Add(hangAfter)
			for {
				req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/orders", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				switch {
				case resp.StatusCode/100 == 2:
					return
				case resp.StatusCode == http.StatusServiceUnavailable && time.Now().Before(deadline):
					time.Sleep(10 * time.Millisecond)
				default:
					errs <- fmt.Errorf("POST /v1/orders: %s", resp.Status)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("dispatch: %v", err)
	}
}
