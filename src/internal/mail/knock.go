package mail

import (
	"fmt"
	"strings"
	"time"
)

// Knock formats the notification for a door opened by a knock from src at
// time at: the subject names the door and the address, the body lists the
// door, the address, the time, each action done and each failure, one per
// line. Control characters in any of them are replaced by spaces, so a
// value cannot add lines of its own.
func Knock(door, src string, at time.Time, actions []string, failures []string) (subject, body string) {
	door = CleanHeaderText(door, 0)
	src = CleanHeaderText(src, 0)
	subject = fmt.Sprintf("knockd: door %q opened for %s", door, src)
	switch n := len(failures); {
	case n == 1:
		subject += " (1 action failed)"
	case n > 1:
		subject += fmt.Sprintf(" (%d actions failed)", n)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Door %q was opened for %s.\n\n", door, src)
	fmt.Fprintf(&b, "Door:    %s\n", door)
	fmt.Fprintf(&b, "Address: %s\n", src)
	fmt.Fprintf(&b, "Time:    %s\n", at.Format("2006-01-02 15:04:05 -0700 MST"))
	list(&b, "Actions done", actions)
	if len(failures) > 0 {
		list(&b, "Failures", failures)
	}
	return subject, b.String()
}

// list writes a titled list, one cleaned item per line, or "none".
func list(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		fmt.Fprintf(b, "\n%s: none\n", title)
		return
	}
	fmt.Fprintf(b, "\n%s:\n", title)
	for _, it := range items {
		fmt.Fprintf(b, "  - %s\n", CleanHeaderText(it, 0))
	}
}
