package daemon

import (
	"net/netip"
	"sync"

	"github.com/knockd-go/knockd-go/src/internal/rdns"
)

// names resolves knockers' addresses to names for the log (knockd -l),
// in the background, with a bounded cache: a name appears in log lines
// once it is known, and only if it is a host name (rdns.HostName).
type names struct {
	resolve func(netip.Addr) string // nil: -l not given
	mu      sync.Mutex
	cache   map[netip.Addr]string
	running int
	wg      sync.WaitGroup // the lookups running; the capture task waits for them
}

const (
	maxNames       = 1024 // cached names
	maxNameLookups = 4    // lookups running at once
)

func newNames(resolve func(netip.Addr) string) *names {
	return &names{resolve: resolve, cache: map[netip.Addr]string{}}
}

// name returns "a (name)" when a's name is known, else a.
func (n *names) name(a netip.Addr) string {
	return string(n.appendName(nil, a))
}

// appendName appends what name returns to b.
func (n *names) appendName(b []byte, a netip.Addr) []byte {
	b = a.AppendTo(b)
	if n.resolve == nil {
		return b
	}
	n.mu.Lock()
	s := n.cache[a]
	n.mu.Unlock()
	if s == "" {
		return b
	}
	return append(append(append(b, " ("...), s...), ')')
}

// lookup starts resolving a unless it is known, being resolved, or too
// many lookups run already.
func (n *names) lookup(a netip.Addr) {
	if n.resolve == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.cache[a]; ok || n.running >= maxNameLookups {
		return
	}
	if len(n.cache) >= maxNames {
		n.cache = map[netip.Addr]string{}
	}
	n.cache[a] = ""
	n.running++
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		s := n.resolve(a)
		if !rdns.HostName(s) {
			s = "" // not a host name: logged as the address
		}
		n.mu.Lock()
		n.running--
		if _, ok := n.cache[a]; ok {
			n.cache[a] = s
		}
		n.mu.Unlock()
	}()
}

// wait returns once the lookups running are done (each is bounded by the
// resolver's timeout). No packet is handled any more: none starts.
func (n *names) wait() { n.wg.Wait() }
