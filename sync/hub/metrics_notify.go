package hub

import "github.com/prometheus/client_golang/prometheus"

// noticeCounter registers wedge_hub_notifications_total{kind,result} and returns the function the
// dispatcher counts with: result sent, retry (a failed try to be repeated) or failed. Per process,
// like the other observed series; the outbox itself (GET /v1/notifications) is the durable view.
// Labels carry no order, phone or recipient.
func (m *metrics) noticeCounter() func(kind, result string) {
	if m == nil {
		return func(string, string) {}
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wedge_hub_notifications_total",
		Help: "Notification tries by kind and result (sent, retry, failed), this process."}, []string{"kind", "result"})
	m.reg.MustRegister(c)
	return func(kind, result string) { c.WithLabelValues(kind, result).Inc() }
}
