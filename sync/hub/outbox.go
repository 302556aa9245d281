package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"wedge/internal/clock"
	"wedge/internal/logging"
	"wedge/order"
)

// The outbox dispatcher. One goroutine per hub claims due rows one at a time with a lease
// (Tx.ClaimOutbox: on PostgreSQL FOR UPDATE SKIP LOCKED, so one replica takes a row), delivers
// the notice outside any transaction, then records the result in a second transaction that locks
// the row again: a 2xx makes it sent (never claimed again, so never sent again), an error schedules
// the next try after an exponential backoff, or fails it after the last try or a refusal. A hub that
// dies between the send and the record leaves the row leased; when the lease runs out it is sent
// again with the same idempotency key (at-least-once on the wire, the receiver dedupes).

// noticeDoc is an outbox row's document.
type noticeDoc struct {
	Kind    string            `json:"kind"`
	Channel string            `json:"channel"`
	Text    string            `json:"text"`
	Phone   string            `json:"phone,omitempty"` // whole, for the channel only; shown masked
	Fields  map[string]string `json:"fields,omitempty"`
	Created time.Time         `json:"created_at"`
	SentAt  time.Time         `json:"sent_at,omitzero"`
	SentBy  string            `json:"sent_by,omitempty"`
	Error   string            `json:"last_error,omitempty"`
	Why     string            `json:"cancelled_because,omitempty"`
}

func decodeNotice(r OutboxRow) (noticeDoc, error) {
	var d noticeDoc
	if err := json.Unmarshal(r.Doc, &d); err != nil {
		return d, fmt.Errorf("%w: outbox %s/%s/%s: %v", ErrStore, r.Site, r.Order, r.Rule, err)
	}
	return d, nil
}

// NotificationView is a row as GET /v1/notifications shows it: the phone masked.
type NotificationView struct {
	ID        string            `json:"id"`
	Site      string            `json:"site"`
	Subject   string            `json:"subject"`
	Rule      string            `json:"rule"`
	Kind      string            `json:"kind"`
	Channel   string            `json:"channel"`
	State     string            `json:"state"`
	Attempts  int               `json:"attempts"`
	Due       time.Time         `json:"due"`
	Phone     string            `json:"phone,omitempty"`
	Text      string            `json:"text"`
	Fields    map[string]string `json:"fields,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	SentAt    time.Time         `json:"sent_at,omitzero"`
	SentBy    string            `json:"sent_by,omitempty"`
	LastError string            `json:"last_error,omitempty"`
	Cancelled string            `json:"cancelled_because,omitempty"`
}

func viewNotice(r OutboxRow) (NotificationView, error) {
	d, err := decodeNotice(r)
	return NotificationView{ID: IdempotencyKey(r.OutboxKey), Site: r.Site, Subject: r.Order, Rule: r.Rule, Kind: d.Kind,
		Channel: d.Channel, State: r.State, Attempts: r.Attempts, Due: r.Due, Phone: order.MaskPhone(d.Phone), Text: d.Text,
		Fields: d.Fields, CreatedAt: d.Created, SentAt: d.SentAt, SentBy: d.SentBy, LastError: d.Error, Cancelled: d.Why}, err
}

// dispatcher sends the outbox. Start it with startDispatcher, end it with stop.
type dispatcher struct {
	db   Store
	clk  clock.Clock
	log  *slog.Logger
	opts NotifyOptions
	// count observes each recorded try (metrics_notify.go).
	count func(kind, result string)

	wake     chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

func startDispatcher(db Store, clk clock.Clock, log *slog.Logger, opts NotifyOptions, count func(kind, result string)) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{db: db, clk: clk, log: log, opts: opts, count: count, wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go d.run(ctx)
	return d
}

// kick makes the dispatcher look for due rows now (after a commit that added some).
func (d *dispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// stop ends the dispatcher and waits for it; a send in flight is cancelled and its claim released
// (see release).
func (d *dispatcher) stop() {
	d.stopOnce.Do(d.cancel)
	<-d.done
}

func (d *dispatcher) run(ctx context.Context) {
	defer close(d.done)
	for {
		for ctx.Err() == nil && d.once(ctx) {
		}
		t := d.clk.NewTimer(d.opts.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-d.wake:
		case <-t.C():
		}
		t.Stop()
	}
}

// once claims, sends and records one row; it reports whether there was one.
func (d *dispatcher) once(ctx context.Context) bool {
	var rows []OutboxRow
	err := d.db.Update(ctx, func(tx Tx) (err error) {
		rows, err = tx.ClaimOutbox(d.opts.Owner, d.clk.Now(), d.opts.Lease, 1)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("outbox claim failed (tried again at the next poll)", logging.Err(err))
		}
		return false
	}
	if len(rows) == 0 {
		return false
	}
	r := rows[0]
	doc, err := decodeNotice(r)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrPermanent, err)
	} else {
		err = d.deliver(ctx, r, doc)
	}
	if ctx.Err() != nil {
		d.release(r.OutboxKey) // stopping: whether it arrived is unknown; the next start sends it again
		return false
	}
	if rerr := d.record(ctx, r.OutboxKey, err); rerr != nil {
		d.log.Error("outbox result not recorded (the row is tried again when its lease runs out)", keyNotice, IdempotencyKey(r.OutboxKey), logging.Err(rerr))
	}
	return true
}

const keyNotice = "notice"

func (d *dispatcher) deliver(ctx context.Context, r OutboxRow, doc noticeDoc) error {
	ch, ok := d.opts.Channels[doc.Channel]
	if !ok {
		return fmt.Errorf("%w: 没有这个通知渠道 / no channel named %q", ErrPermanent, doc.Channel)
	}
	n := Notice{ID: IdempotencyKey(r.OutboxKey), OutboxKey: r.OutboxKey, Kind: doc.Kind, Text: doc.Text, Phone: doc.Phone,
		Fields: doc.Fields, CreatedAt: doc.Created}
	return ch.Deliver(ctx, n)
}

// record writes a send's outcome. A success is recorded whatever became of the row meanwhile (a
// cancel that came too late, another replica's claim after our lease ran out): the notice went
// out. A failure counts only while the row is still pending and ours.
func (d *dispatcher) record(ctx context.Context, k OutboxKey, sendErr error) error {
	now := d.clk.Now().UTC()
	log := d.log.With(logging.KeySite, k.Site, keyNotice, IdempotencyKey(k), "rule", k.Rule)
	return d.db.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		r, err := tx.Outbox(k)
		if err != nil || r == nil {
			return err
		}
		doc, err := decodeNotice(*r)
		if err != nil {
			return err
		}
		switch {
		case sendErr == nil && r.State == OutboxSent:
			return nil
		case sendErr == nil:
			r.State, r.Attempts, doc.SentAt, doc.SentBy, doc.Error = OutboxSent, r.Attempts+1, now, d.opts.Owner, ""
			log.Info("notification sent", "attempts", r.Attempts)
			d.count(doc.Kind, "sent")
		case r.State != OutboxPending || r.LeaseOwner != d.opts.Owner:
			return nil
		default:
			r.Attempts++
			doc.Error = sendErr.Error()
			if errors.Is(sendErr, ErrPermanent) || r.Attempts >= d.opts.MaxAttempts {
				r.State = OutboxFailed
				log.Error("notification failed for good", "attempts", r.Attempts, logging.Err(sendErr))
				d.count(doc.Kind, "failed")
			} else {
				d.count(doc.Kind, "retry")
				r.Due = now.Add(d.backoff(r.Attempts))
				log.Warn("notification not delivered, tried again later", "attempts", r.Attempts, "next", r.Due, logging.Err(sendErr))
			}
		}
		r.LeaseOwner, r.LeaseUntil, r.Doc = "", time.Time{}, mustJSON(doc)
		return tx.PutOutbox(*r)
	})
}

// release gives up this dispatcher's claim on k without counting a try, so a restarted hub need
// not wait for the lease to run out. The send it interrupted may have arrived: the next one carries
// the same idempotency key.
func (d *dispatcher) release(k OutboxKey) {
	err := d.db.Update(context.Background(), func(tx Tx) error {
		r, err := tx.Outbox(k)
		if err != nil || r == nil || r.State != OutboxPending || r.LeaseOwner != d.opts.Owner {
			return err
		}
		r.LeaseOwner, r.LeaseUntil = "", time.Time{}
		return tx.PutOutbox(*r)
	})
	if err != nil {
		d.log.Warn("outbox claim not released (the row waits for its lease to run out)", keyNotice, IdempotencyKey(k), logging.Err(err))
	}
}

// backoff is the wait after the n-th failed try: Backoff·2^(n-1), at most MaxBackoff.
func (d *dispatcher) backoff(n int) time.Duration {
	b := d.opts.Backoff
	for i := 1; i < n && b < d.opts.MaxBackoff; i++ {
		b *= 2
	}
	return min(b, d.opts.MaxBackoff)
}
