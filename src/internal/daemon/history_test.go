package daemon

import (
	"strconv"
	"testing"
)

// TestHistorySetWhat: setWhat reaches an event while the history holds
// it, and nothing once newer events pushed it out.
func TestHistorySetWhat(t *testing.T) {
	var h history
	first := h.add(Event{Door: "0"})
	h.setWhat(first, "started: a")
	if l := h.list(); len(l) != 1 || l[0].What != "started: a" {
		t.Fatalf("after one event: %+v", l)
	}
	var seqs []uint64
	for i := 1; i <= historyLen; i++ {
		seqs = append(seqs, h.add(Event{Door: strconv.Itoa(i)}))
	}
	h.setWhat(first, "late") // pushed out: must not land on another event
	h.setWhat(seqs[0], "started: b")
	for _, e := range h.list() {
		if e.What == "late" || (e.What != "") != (e.Door == "1") {
			t.Fatalf("events: %+v", h.list())
		}
	}
}
