// Package demo is `wedge demo` (`make demo`): the whole product on one machine with only Go.
//
// It starts an embedded MQTT broker (sync/broker) on a free loopback port, the reference hub
// (sync/hub, HTTP on 127.0.0.1:8480 or a free port) and two agents wired exactly as `wedge run`
// wires them (package agent) from real wedge.yaml files written into the data directory: pack01
// with a print station and its label printer (scan the order code: the label is printed, and the
// order moves to 已打单 once the printer's status confirms it) and dock01 with a handover station
// (scan the waybill when the courier takes the parcel). Each station's scanner is the real serial
// driver (serialscan, profile generic-serial-cr) on a real pseudo-terminal; simulated operators
// type barcodes and a CR into the device side. The printer, prn-p1, is the ZPL emulator of
// drivers/printer/emulator on a free loopback TCP port, reached by the real printer driver as a
// network printer (profile zebra-zd421); it answers ~HS/~HQES like a Zebra and counts the labels
// that come out. Now and then it runs out of paper just before a label: the station refuses the
// scan as printer_fault (打印机故障：缺纸, journaled and shown in the console's popup), the operator
// puts in a new roll and scans again, and the fault's end is journaled too. The agent cancels the
// label held by the paper-out (~JA) when it records the fault, so exactly one label comes out.
//
// An order generator posts to the hub's POST /v1/orders at --rate orders per minute: tmall, jd,
// douyin and pdd orders with channel order numbers that fit the data contract, masked recipients,
// SKUs and SF/YTO/ZTO/J&T waybills valid for order/waybill; presale orders whose balance is paid a
// little later; buyer cancels; now and then an order that breaks the data contract (the agents
// refuse it as contract_violation, and the hub shows the refusal in the order's history), a
// malformed request (the hub refuses it with a clear error) and, from a "faulty publisher" on the
// site's downlink topic, an unreadable message without the hub's signature (each agent refuses it,
// journals it as message_refused and goes on). The hub signs what it publishes and the agents
// sign their journal batches, with keys made on the first run in DIR/keys (the agents pin the
// hub's key; the hub reads the agents' keys from DIR/keys/agents). --burst N dispatches N orders
// at once, before the print operator starts: above 200 (N ≥ 201) pack01's backlog breaker (breaker.max_backlog 200 in pack01.yaml) opens, the orders
// that arrive next are held (暂停进入) and the operator leaves them on the shelf until the backlog
// is worked down and the breaker releases them to 待分仓.
// The operators sign in with a badge (OP-…), pair order and label at pack01, and hand the parcel
// over at dock01 a little later; a small share of their scans go wrong on purpose (a product
// barcode, a cancelled or unpaid presale order, an unprinted parcel or a damaged label at the dock),
// so the stations' rejections, with their Chinese and English reasons, show up.
//
// The live view on stdout, refreshed every second, shows the orders per state as the hub sees them
// (待分仓 / 已打单 / 已揽收 …), each agent's journaled, acked and unsynced entries, the labels the
// printer put out and its paper-outs, pack01's breaker (open or closed, 待分仓 against its limit,
// held orders), the last events and the URLs of the hub and agent APIs and of each agent's
// supervisor console (http://<agent API>/console/, sign in as demo / demo: console.users in each
// agent's YAML, hashed with password.Hash at start-up). When stdout is not a terminal (or
// with --plain) it prints the URLs, then one status line per second (with the breaker while it is
// open or holds orders), followed by the events that are new since the previous line.
//
// Data lives in a fresh temporary directory removed on exit (--data DIR or --keep keeps it); a
// second run on a kept directory resumes the orders its agents still hold in 待分仓 and 已打单.
// --duration stops the demo by itself. The simulated scanners and printer need Linux
// pseudo-terminals; elsewhere the demo says so and exits (the rest of wedge builds everywhere).
// Stop ends operators and generator, agents (which close their scanners and printer connections),
// ptys, the printer emulator, hub and broker, in that order, and waits for each.
package demo
