package hub

import (
	"net/http"
	"slices"

	"wedge/internal/logging"
	"wedge/sync/wire"
)

// maxNotificationsListed caps one GET /v1/notifications answer.
const maxNotificationsListed = 1000

// getNotifications lists the outbox: GET /v1/notifications?state=pending|sent|failed|cancelled&site=S
// (both optional), by site, subject and rule, at most maxNotificationsListed (truncated says so).
// Phones are masked.
func (h *Hub) getNotifications(w http.ResponseWriter, r *http.Request) {
	state, site := r.URL.Query().Get("state"), r.URL.Query().Get("site")
	if state != "" && !slices.Contains([]string{OutboxPending, OutboxSent, OutboxFailed, OutboxCancelled}, state) {
		writeError(w, http.StatusBadRequest, "state 只能是 pending、sent、failed 或 cancelled / state must be pending, sent, failed or cancelled")
		return
	}
	if site != "" && !wire.ValidName(site) {
		writeError(w, http.StatusBadRequest, "site 名称无效 / invalid site name")
		return
	}
	out := []NotificationView{}
	truncated := false
	err := h.db.View(r.Context(), func(tx Tx) error {
		return tx.Outboxes(state, site, func(row OutboxRow) (bool, error) {
			if len(out) == maxNotificationsListed {
				truncated = true
				return false, nil
			}
			v, err := viewNotice(row)
			out = append(out, v)
			return true, err
		})
	})
	if err != nil {
		h.log.Error("notifications not read", logging.Err(err))
		writeError(w, http.StatusInternalServerError, "读取通知失败 / cannot read the notifications")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": out, "truncated": truncated})
}
