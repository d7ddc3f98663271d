package mail

import (
	"time"
)

// Format renders m as Send writes it to the sendmail program, with a fresh
// Message-ID and the current time for a zero Date.
func Format(m Message) ([]byte, error) {
	now := time.Now()
	b, _, err := compose(m, now, messageID(m, now))
	return b, err
}
