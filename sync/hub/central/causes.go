package central

import (
	"sort"
	"strings"

	"wedge/order"
	"wedge/sync/wire"
)

// Cause is one of the five causes the seed names for fulfilment anomalies.
type Cause string

// The causes.
const (
	CauseLogisticsGap   Cause = "logistics_gap"   // 物流信息断层
	CauseStateDesync    Cause = "state_desync"    // 跨系统状态不同步
	CauseManualUntraced Cause = "manual_untraced" // 人工干预无留痕
	CauseRateLimit      Cause = "rate_limit"      // 接口限流无降级
	CauseFieldMapping   Cause = "field_mapping"   // 字段映射错误
)

// CauseInfo names a cause in both languages.
type CauseInfo struct {
	Cause Cause  `json:"cause"`
	ZH    string `json:"zh"`
	EN    string `json:"en"`
}

// Causes lists the causes in the seed's order.
var Causes = []CauseInfo{
	{CauseLogisticsGap, "物流信息断层", "logistics information gap"},
	{CauseStateDesync, "跨系统状态不同步", "cross-system state out of sync"},
	{CauseManualUntraced, "人工干预无留痕", "manual intervention without trace"},
	{CauseRateLimit, "接口限流无降级", "API limits without degradation"},
	{CauseFieldMapping, "字段映射错误", "field mapping error"},
}

// Hub-side anomaly kinds: what the hub itself sees go wrong (its counters in Stats, the evidence
// it keeps) and what it finds comparing records. Rejections journaled by the PCs are counted under
// RejectKind(reason).
const (
	KindMalformed       = "malformed_message"       // an unreadable payload or a batch without a usable journal id
	KindMismatched      = "mismatched_topic"        // a batch naming another site or agent than its topic
	KindInvalidEntry    = "invalid_entry"           // an entry that cannot be keyed (seq 0, another journal id)
	KindSignature       = "signature_refused"       // a batch not signed by its agent's registered key
	KindChainBreak      = "chain_break"             // an entry whose hash or link does not match (edited, removed, reordered)
	KindEntryConflict   = "entry_conflict"          // a second, different entry for a stored (or waiting) seq
	KindTooFarAhead     = "entry_too_far_ahead"     // an entry too far beyond the journal's stored ones to wait for its predecessor
	KindEvidenceDropped = "evidence_dropped"        // evidence not kept: the evidence store is full
	KindManual          = "manual_confirmation"     // a step confirmed by hand instead of a scan
	KindStateMismatch   = "state_mismatch"          // a PC's last state of an order differs from the hub's
	KindDuplicateNo     = "duplicate_channel_order" // a channel order number that already belongs to another order
	KindOverdue         = "overdue"                 // an order waited in 待分仓 past the limit
	// KindFalseCompletion: 伪完成, an order handed over whose waybill got no carrier first scan
	// within the limit (FalseCompletions); counted once per order when the limit passes.
	KindFalseCompletion = "false_completion"
)

// RejectKind is the anomaly kind of a PC's rejection with reason r.
func RejectKind(r order.Reason) string { return "reject:" + string(r) }

// reasonCause maps every rejection reason of package order to a cause. A reason missing here is a
// test failure (TestEveryReasonHasACause reads the reasons from order's source).
var reasonCause = map[order.Reason]Cause{
	order.ReasonUnknownOrder:     CauseStateDesync,    // the order did not reach this site's PCs
	order.ReasonUnknownCode:      CauseFieldMapping,   // a barcode in a format nothing maps
	order.ReasonWrongState:       CauseStateDesync,    // the PC's state is not what the step expects
	order.ReasonNotPrinted:       CauseStateDesync,    // handover of an order this PC has as unprinted
	order.ReasonWaybillInvalid:   CauseFieldMapping,   // the number does not fit the carrier's format
	order.ReasonWaybillMismatch:  CauseLogisticsGap,   // the label is not the waybill bound to the order
	order.ReasonUnknownWaybill:   CauseLogisticsGap,   // a waybill no order is bound to
	order.ReasonNoWaybill:        CauseLogisticsGap,   // the carrier's waybill has not arrived
	order.ReasonCancelled:        CauseStateDesync,    // a cancel met a parcel still being worked
	order.ReasonAlreadyPickedUp:  CauseStateDesync,    // a cancel came after the courier took it
	order.ReasonAwaitingBalance:  CauseStateDesync,    // a presale order worked before its balance
	order.ReasonHeld:             CauseRateLimit,      // intake paused by the backlog breaker
	order.ReasonNoOrderScanned:   CauseManualUntraced, // an operator skipped the order scan
	order.ReasonPairingExpired:   CauseManualUntraced, // an operator left a pairing half done
	order.ReasonManualIncomplete: CauseManualUntraced, // a manual confirmation without who or why
	order.ReasonContract:         CauseFieldMapping,   // the order's fields break the data contract
	order.ReasonMalformed:        CauseFieldMapping,   // the hub's message cannot be read
	order.ReasonConflict:         CauseStateDesync,    // an order id already holds different data
	order.ReasonPrinterFault:     CauseLogisticsGap,   // no label came out: the parcel has no waybill on it
	order.ReasonUnsupported:      CauseFieldMapping,   // an action or state this version does not know
	order.ReasonLabelOutdated:    CauseStateDesync,    // the recipient changed after the label was printed
	order.ReasonIntercepted:      CauseStateDesync,    // the order system stopped the parcel
	order.ReasonNoIntercept:      CauseStateDesync,    // a resolution for an intercept the PC does not have
}

// kindCause maps the hub-side kinds.
var kindCause = map[string]Cause{
	KindMalformed:       CauseFieldMapping,
	KindMismatched:      CauseFieldMapping,
	KindInvalidEntry:    CauseFieldMapping,
	KindSignature:       CauseManualUntraced, // entries no registered PC vouches for
	KindChainBreak:      CauseManualUntraced, // a journal edited or cut after the fact
	KindEntryConflict:   CauseManualUntraced,
	KindTooFarAhead:     CauseStateDesync, // the hub lost sight of a PC's journal: thousands of entries missing
	KindEvidenceDropped: CauseRateLimit,
	KindManual:          CauseManualUntraced,
	KindStateMismatch:   CauseStateDesync,
	KindDuplicateNo:     CauseFieldMapping,
	KindOverdue:         CauseRateLimit,    // the backlog outran the warehouse's throughput
	KindFalseCompletion: CauseLogisticsGap, // the carrier's tracking does not show the parcel handed over
}

// HubKinds lists the hub-side kinds (for the table in docs and its test).
func HubKinds() []string {
	out := make([]string, 0, len(kindCause))
	for k := range kindCause {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CauseOf is the cause of an anomaly kind; false for a kind the table does not know.
func CauseOf(kind string) (Cause, bool) {
	if r, ok := strings.CutPrefix(kind, "reject:"); ok {
		c, ok := reasonCause[order.Reason(r)]
		return c, ok
	}
	c, ok := kindCause[kind]
	return c, ok
}

// EntryKind is the anomaly kind an applied journal entry records, "" for none: a rejection (a
// duplicate channel order number is told apart from other conflicts by its detail), a manual
// confirmation, an overdue alert.
func EntryKind(kind, trigger, reason, detail string) string {
	switch {
	case kind == wire.KindReject && reason == string(order.ReasonConflict) && strings.Contains(detail, "channel_order_no"):
		return KindDuplicateNo
	case kind == wire.KindReject && reason != "":
		return RejectKind(order.Reason(reason))
	case kind == wire.KindOverdue:
		return KindOverdue
	case trigger == wire.TriggerManual && (kind == wire.KindStep || kind == wire.KindIntercept):
		return KindManual
	}
	return ""
}
