package mail

import "github.com/knockd-go/knockd-go/src/internal/mailaddr"

// Address is a mailbox (mailaddr.Address): the configuration parses it,
// a Message carries it.
type Address = mailaddr.Address

// ParseAddress parses one address as Message accepts it (mailaddr.Parse).
func ParseAddress(s string) (Address, error) { return mailaddr.Parse(s) }
