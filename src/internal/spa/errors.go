package spa

import (
	"fmt"

	"github.com/knockd-go/knockd-go/src/internal/errs"
)

// Reason classifies why a packet was rejected. Its String form is stable and
// meant for log lines and counters.
type Reason int

// Rejection reasons, in the order the checks run. Reasons from
// ReasonDecrypt on are only reported for packets whose HMAC was valid, that
// is from a sender holding the door's HMAC key (see Reason.Authenticated).
const (
	ReasonTruncated      Reason = iota + 1 // shorter than MinPacketLen
	ReasonTooLong                          // longer than MaxPacketLen
	ReasonSaltedPrefix                     // starts with "U2FsdGVkX1" (replay trick)
	ReasonNotBase64                        // a byte outside [A-Za-z0-9+/]
	ReasonNotSPA                           // first byte cannot start an fwknop packet
	ReasonHMAC                             // HMAC mismatch (wrong key, digest type or tampering)
	ReasonDecrypt                          // bad ciphertext length, padding or key
	ReasonDigest                           // inner digest mismatch
	ReasonMalformed                        // fields do not parse
	ReasonStale                            // timestamp outside the window
	ReasonReplay                           // packet seen before
	ReasonReplayFull                       // replay cache full (fail closed)
	ReasonAnySource                        // 0.0.0.0 in the message, not allowed
	ReasonSourceMismatch                   // message address differs from packet source
	ReasonUser                             // username not the required one
	ReasonCommand                          // command message, not allowed
	ReasonNAT                              // NAT access, not allowed
	ReasonPort                             // a requested port is not allowed
	ReasonTimeout                          // client timeout above the door's maximum
)

var reasonText = [...]string{
	ReasonTruncated:      "truncated",
	ReasonTooLong:        "too long",
	ReasonSaltedPrefix:   "payload starts with U2FsdGVkX1",
	ReasonNotBase64:      "not base64",
	ReasonNotSPA:         "not an SPA packet",
	ReasonHMAC:           "HMAC mismatch",
	ReasonDecrypt:        "decryption failed",
	ReasonDigest:         "digest mismatch",
	ReasonMalformed:      "malformed message",
	ReasonStale:          "stale timestamp",
	ReasonReplay:         "replayed packet",
	ReasonReplayFull:     "replay cache full",
	ReasonAnySource:      "0.0.0.0 not allowed",
	ReasonSourceMismatch: "address does not match packet source",
	ReasonUser:           "user not allowed",
	ReasonCommand:        "command messages not allowed",
	ReasonNAT:            "NAT access not allowed",
	ReasonPort:           "port not allowed",
	ReasonTimeout:        "client timeout too long",
}

// String returns the stable text of the reason, e.g. "HMAC mismatch".
func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonText) {
		return reasonText[r]
	}
	return fmt.Sprintf("reason %d", int(r))
}

// Authenticated reports whether a packet rejected for this reason passed the
// HMAC check. Rejections before it are what a flood of garbage produces; a
// daemon may log them at a lower level or rate-limit them.
func (r Reason) Authenticated() bool { return r >= ReasonDecrypt }

// Error is a rejection. Error() reads the reason, e.g.
// "stale timestamp (-301s)" or "port tcp/23 not allowed".
type Error struct {
	_      [0]func() // not comparable: no equality function in the binary
	Reason Reason
	msg    string // Reason.String() when empty
}

// Error implements error.
func (e *Error) Error() string {
	if e.msg == "" {
		return e.Reason.String()
	}
	return e.msg
}

// Is makes errors.Is(err, spa.ErrHMAC) match any *Error of the same Reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

func reject(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, msg: fmt.Sprintf(format, args...)}
}

// Sentinel errors, one per Reason, for errors.Is.
var (
	ErrTruncated      = &Error{Reason: ReasonTruncated}
	ErrTooLong        = &Error{Reason: ReasonTooLong}
	ErrSaltedPrefix   = &Error{Reason: ReasonSaltedPrefix}
	ErrNotBase64      = &Error{Reason: ReasonNotBase64}
	ErrNotSPA         = &Error{Reason: ReasonNotSPA}
	ErrHMAC           = &Error{Reason: ReasonHMAC}
	ErrDecrypt        = &Error{Reason: ReasonDecrypt}
	ErrDigest         = &Error{Reason: ReasonDigest}
	ErrMalformed      = &Error{Reason: ReasonMalformed}
	ErrStale          = &Error{Reason: ReasonStale}
	ErrReplay         = &Error{Reason: ReasonReplay}
	ErrReplayFull     = &Error{Reason: ReasonReplayFull}
	ErrAnySource      = &Error{Reason: ReasonAnySource}
	ErrSourceMismatch = &Error{Reason: ReasonSourceMismatch}
	ErrUser           = &Error{Reason: ReasonUser}
	ErrCommand        = &Error{Reason: ReasonCommand}
	ErrNAT            = &Error{Reason: ReasonNAT}
	ErrPort           = &Error{Reason: ReasonPort}
	ErrTimeout        = &Error{Reason: ReasonTimeout}
)

// ReasonOf returns the Reason of an *Error in err's chain, or 0.
func ReasonOf(err error) Reason {
	if e, ok := errs.As[*Error](err); ok {
		return e.Reason
	}
	return 0
}
