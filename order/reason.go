package order

import "fmt"

// Reason is the typed cause of a rejection. The string is the stable code used on the wire, in the
// journal and in metrics; Message is what the operator reads.
type Reason string

// The reasons. Some are decided by the flow itself, the others by the layers around it (stations,
// intake, printers), which use this one table so that every rejection reads the same everywhere.
const (
	ReasonUnknownOrder     Reason = "unknown_order"      // no order with that code on this site
	ReasonUnknownCode      Reason = "unknown_code"       // the barcode is neither an order, a waybill, a badge nor a command
	ReasonWrongState       Reason = "wrong_state"        // the order is not in the state this step starts from
	ReasonNotPrinted       Reason = "not_printed"        // handover of an order that has no printed label yet
	ReasonWaybillInvalid   Reason = "waybill_invalid"    // the number is not valid for the carrier
	ReasonWaybillMismatch  Reason = "waybill_mismatch"   // not the waybill assigned to / bound to this order
	ReasonUnknownWaybill   Reason = "unknown_waybill"    // no order is bound to that waybill
	ReasonNoWaybill        Reason = "no_waybill"         // the hub has not assigned a waybill yet
	ReasonCancelled        Reason = "cancelled"          // the order is cancelled
	ReasonAlreadyPickedUp  Reason = "already_picked_up"  // cancel after the courier took the parcel
	ReasonAwaitingBalance  Reason = "awaiting_balance"   // presale order, balance not paid
	ReasonHeld             Reason = "held"               // intake paused by the backlog breaker
	ReasonNoOrderScanned   Reason = "no_order_scanned"   // a waybill at a print station with no order scanned first
	ReasonPairingExpired   Reason = "pairing_expired"    // the order scan is older than the pairing window
	ReasonManualIncomplete Reason = "manual_incomplete"  // a manual confirmation without operator or note
	ReasonContract         Reason = "contract_violation" // intake: the order breaks the data contract
	ReasonMalformed        Reason = "malformed_message"  // intake: the hub's message cannot be read
	ReasonConflict         Reason = "conflict"           // intake: an order id already holds different data
	ReasonPrinterFault     Reason = "printer_fault"      // the printer reported a fault; nothing was printed
	ReasonUnsupported      Reason = "unsupported"        // an action or state this version does not know
)

// Message is operator-facing text, Chinese first.
type Message struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

func (m Message) String() string { return m.ZH + " / " + m.EN }

// Message tells the operator what went wrong and what to do. from is the order's state, if known.
func (r Reason) Message(from State) Message {
	switch r {
	case ReasonUnknownOrder:
		return Message{"查无此订单：请核对单号，或联系主管确认订单已下发到本仓", "Unknown order: check the code, or ask the supervisor whether the order reached this warehouse"}
	case ReasonUnknownCode:
		return Message{"无法识别的条码：请扫描订单号、面单号或工牌", "Unrecognised barcode: scan an order code, a waybill or a badge"}
	case ReasonWrongState:
		return Message{fmt.Sprintf("状态不符：订单当前为%s，不能执行此步骤", from.LabelZH()), fmt.Sprintf("Wrong state: the order is %s, this step does not apply", from.LabelEN())}
	case ReasonNotPrinted:
		return Message{fmt.Sprintf("尚未打单（当前%s）：请先在打单台打印面单，不能直接交接", from.LabelZH()), fmt.Sprintf("Not printed yet (%s): print the waybill at a print station before handover", from.LabelEN())}
	case ReasonWaybillInvalid:
		return Message{"面单号格式无效：与承运商不符，请重新扫描面单上的条码", "Invalid waybill number for the carrier: rescan the barcode on the label"}
	case ReasonWaybillMismatch:
		return Message{"面单与订单不匹配：请取出该包裹，交主管核对", "Waybill does not belong to this order: set the parcel aside for the supervisor"}
	case ReasonUnknownWaybill:
		return Message{"该面单未绑定任何订单：请先在打单台打单", "No order is bound to this waybill: print it at a print station first"}
	case ReasonNoWaybill:
		return Message{"尚未分配面单号：请等待系统下发面单后再打单", "No waybill assigned yet: wait for the hub to assign one, then print"}
	case ReasonCancelled:
		return Message{"订单已取消：请勿发货，将包裹交主管", "Order cancelled: do not ship, give the parcel to the supervisor"}
	case ReasonAlreadyPickedUp:
		return Message{"已揽收，无法取消：请联系快递拦截", "Already picked up, cannot cancel: ask the carrier to intercept"}
	case ReasonAwaitingBalance:
		return Message{"预售订单尚未付尾款：暂不能打单", "Presale order, balance not paid: do not print yet"}
	case ReasonHeld:
		return Message{"积压熔断中，订单暂停进入：待主管恢复后再处理", "Intake paused by the backlog breaker: wait for the supervisor to resume"}
	case ReasonNoOrderScanned:
		return Message{"请先扫描订单号，再扫描面单", "Scan the order code first, then the waybill"}
	case ReasonPairingExpired:
		return Message{"配对超时：请重新扫描订单号，再扫描面单", "Pairing timed out: scan the order code again, then the waybill"}
	case ReasonManualIncomplete:
		return Message{"人工确认须填写操作员和原因", "A manual confirmation needs an operator and a reason"}
	case ReasonContract:
		return Message{"订单数据不符合约定（数据契约），已拒收并上报", "Order data breaks the data contract: refused and reported"}
	case ReasonMalformed:
		return Message{"收到无法解析的下发消息，已记录并跳过", "Unreadable message from the hub: logged and skipped"}
	case ReasonConflict:
		return Message{"订单号重复但内容不同，已拒收并上报", "Order id reused with different data: refused and reported"}
	case ReasonPrinterFault:
		return Message{"打印机故障，订单仍为待分仓：排除故障后按提示处理（重新扫描订单，或扫描已打出的面单）", "Printer fault, the order is still pending: clear the fault, then scan the order again, or scan the label if one came out"}
	}
	return Message{"不支持的操作：" + string(r), "Unsupported: " + string(r)}
}

// Notice is an operator message that is not an outcome's own Message: what a station says when a
// scan is taken without moving the order, when a printer needs the operator, or when nothing could
// be recorded. Like Reason, the string is a stable code (logs, metrics); Message fills its blanks
// from NoticeArgs, so that every station words the same situation the same way.
type Notice string

// The notices.
const (
	NoticeSystemError       Notice = "system_error"        // the journal refused the entry: nothing was recorded
	NoticeOperatorSignedIn  Notice = "operator_signed_in"  // a badge was scanned (Operator)
	NoticePairOrderScanned  Notice = "pair_order_scanned"  // pairing: order scanned, waybill label next (Order, Seconds)
	NoticeReprintArmed      Notice = "reprint_armed"       // the reprint command was scanned (Seconds)
	NoticeAlreadyPrinted    Notice = "already_printed"     // repeat scan of a printed order (Waybill, Command)
	NoticeLabelSent         Notice = "label_sent"          // sent to a printer without status: scan it back (Waybill, Seconds)
	NoticeAwaitingScanBack  Notice = "awaiting_scan_back"  // repeat scan while the label waits for its scan-back (Waybill, Command)
	NoticeScanBackExpired   Notice = "scan_back_expired"   // the scan-back came after the window (Command)
	NoticeReprinted         Notice = "reprinted"           // a reprint the printer confirmed (Waybill)
	NoticeReprintSent       Notice = "reprint_sent"        // a reprint sent to a printer without status (Waybill)
	NoticeProxyLabelSent    Notice = "proxy_label_sent"    // other software printed a label without status (Waybill)
	NoticeProxyReprinted    Notice = "proxy_reprinted"     // other software printed a printed order's label again (Waybill)
	NoticePrinterFault      Notice = "printer_fault"       // no label came out (Printer, Faults)
	NoticePrinterFaultClear Notice = "printer_fault_clear" // no label came out, the printer's jobs were cancelled (Printer, Faults)
	NoticePrinterFaultCheck Notice = "printer_fault_check" // the label may come out late: check, scan it back (Printer, Faults, Waybill, Seconds)
	NoticePrinterRecovered  Notice = "printer_recovered"   // a job was confirmed after a fault (Printer)
)

// NoticeArgs fill the blanks of a Notice's message; each notice uses the fields its comment names.
type NoticeArgs struct {
	Order    string  // order id
	Waybill  string  // waybill number
	Operator string  // operator badge
	Printer  string  // printer name
	Command  string  // the reprint command barcode
	Seconds  int     // the pairing, scan-back or reprint window
	Faults   Message // the printer's faults by name ("缺纸、开盖" / "paper out, head open")
}

// Message is the notice's text with the blanks filled.
func (n Notice) Message(a NoticeArgs) Message {
	switch n {
	case NoticeSystemError:
		return Message{"系统错误，未记录：请重新扫描", "System error, nothing recorded: scan again"}
	case NoticeOperatorSignedIn:
		return Message{"操作员已登录：" + a.Operator, "Operator signed in: " + a.Operator}
	case NoticePairOrderScanned:
		return Message{fmt.Sprintf("已扫订单 %s：请在%d秒内扫描面单条码", a.Order, a.Seconds),
			fmt.Sprintf("Order %s scanned: scan the waybill label within %ds", a.Order, a.Seconds)}
	case NoticeReprintArmed:
		return Message{fmt.Sprintf("补打模式：请在%d秒内扫描要补打的订单号", a.Seconds), fmt.Sprintf("Reprint: scan the order code within %ds", a.Seconds)}
	case NoticeAlreadyPrinted:
		return Message{fmt.Sprintf("已打过单（面单 %s），未重复打印；如需补打请先扫描 %s 再扫订单号", a.Waybill, a.Command),
			fmt.Sprintf("Already printed (waybill %s), nothing printed again; to reprint scan %s, then the order code", a.Waybill, a.Command)}
	case NoticeLabelSent:
		return Message{fmt.Sprintf("面单已发送：请在%d秒内扫描打出的面单条码 %s 确认", a.Seconds, a.Waybill),
			fmt.Sprintf("Label sent: scan the printed label's barcode %s within %ds to confirm", a.Waybill, a.Seconds)}
	case NoticeAwaitingScanBack:
		return Message{fmt.Sprintf("面单 %s 已发送到打印机：请扫描打出的面单确认；未打出请扫 %s 再扫订单号", a.Waybill, a.Command),
			fmt.Sprintf("Label %s was sent: scan the printed label to confirm; if none came out scan %s, then the order code", a.Waybill, a.Command)}
	case NoticeScanBackExpired:
		return Message{fmt.Sprintf("确认超时：请扫描 %s 再扫订单号重新打印，然后扫描新打出的面单", a.Command),
			fmt.Sprintf("Confirmation timed out: scan %s, then the order code to print again, then scan the new label", a.Command)}
	case NoticeReprinted:
		return Message{"已补打面单 " + a.Waybill, "Label reprinted: " + a.Waybill}
	case NoticeReprintSent:
		return Message{"补打面单已发送 " + a.Waybill + "：请确认已打出", "Reprint sent: " + a.Waybill + ": check that it came out"}
	case NoticeProxyLabelSent:
		return Message{"面单已由外部软件打印：请扫描面单条码 " + a.Waybill + " 确认", "Label printed by other software: scan its barcode " + a.Waybill + " to confirm"}
	case NoticeProxyReprinted:
		return Message{"外部软件补打了面单 " + a.Waybill, "Label " + a.Waybill + " printed again by other software"}
	case NoticePrinterFault:
		return Message{fmt.Sprintf("打印机 %s 故障：%s，面单未打出：排除故障后重新扫描订单", a.Printer, a.Faults.ZH),
			fmt.Sprintf("Printer %s fault: %s, no label came out: clear the fault and scan the order again", a.Printer, a.Faults.EN)}
	case NoticePrinterFaultClear:
		return Message{fmt.Sprintf("打印机 %s 故障：%s，面单未打出（打印机中的任务已取消）：排除故障后重新扫描订单", a.Printer, a.Faults.ZH),
			fmt.Sprintf("Printer %s fault: %s, no label came out (the printer's queued jobs were cancelled): clear the fault and scan the order again", a.Printer, a.Faults.EN)}
	case NoticePrinterFaultCheck:
		return Message{fmt.Sprintf("打印机 %s 故障：%s。排除故障后查看面单 %s 是否打出：已打出请在%d秒内扫描该面单条码确认（不要重新打印）；未打出请重新扫描订单",
			a.Printer, a.Faults.ZH, a.Waybill, a.Seconds),
			fmt.Sprintf("Printer %s fault: %s. Once cleared, check whether label %s came out: if it did, scan its barcode within %ds to confirm (do not print again); if not, scan the order again",
				a.Printer, a.Faults.EN, a.Waybill, a.Seconds)}
	case NoticePrinterRecovered:
		return Message{"打印机 " + a.Printer + " 已恢复正常", "Printer " + a.Printer + " is back to normal"}
	}
	return Message{"未知提示：" + string(n), "Unknown notice: " + string(n)}
}
