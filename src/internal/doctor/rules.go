package doctor

import (
	"strconv"
	"strings"
)

// The firewall checks read the ruleset (iptables-save or nft list
// ruleset) into chains of rules and follow one packet through them, as the
// kernel would: a new connection's first packet from a source address no
// rule names.

// pkt is the packet followed: proto "tcp" or "udp", destination port,
// input device, and the hook ("input" or "forward").
type pkt struct {
	proto string
	port  int
	dev   string
	hook  string
	ipv6  bool
}

// Verdicts of a rule.
const (
	vNone   = ""
	vAccept = "accept"
	vDrop   = "drop"
	vReject = "reject"
	vReturn = "return"
	vJump   = "jump"
	vGoto   = "goto"
)

// rule is one rule: conds say whether it matches a packet, verdict and
// target what it does then (or vmap, by the packet's vmapKey).
type rule struct {
	text string
	// ours names knockd-go's own jump or rule (the target KNOCKD_INPUT,
	// the comment "knockd-go: open4" of the fw4 includes); "" for others.
	ours    string
	conds   []cond
	verdict string
	target  string
	vmap    map[string]string // key -> "accept" / "jump x"
	vmapKey byte              // kDev, kProto, kPort, kNew; 0: no vmap
}

// cond is one match of a rule: it holds when one of vals passes test
// (or, negated, when none does). Conditions are data, not closures: one
// evaluator for every kind keeps the binary small.
type cond struct {
	kind byte
	neg  bool
	vals []string
}

// Kinds of cond, and the vmap keys (kDev, kProto, kPort, kNew).
const (
	kTrue    = iota // always
	kFalse          // never: sources, marks, ICMP (not a fresh knock from anywhere)
	kDev            // v names the input device (devMatch)
	kProto          // v is the protocol
	kL4             // v is the protocol, or "th" (any transport)
	kNfproto        // v is "ipv6" for an IPv6 packet
	kPort           // the destination port is in v (portIn)
	kNew            // v is a conntrack state of a new connection
	kDnat           // v is "dnat" and the packet is forwarded
)

func (c cond) test(p pkt, v string) bool {
	switch c.kind {
	case kTrue:
		return true
	case kDev:
		return devMatch(p.dev, v)
	case kProto:
		return v == p.proto
	case kL4:
		return v == "th" || v == p.proto
	case kNfproto:
		return v == "ipv6" == p.ipv6
	case kPort:
		return portIn(p.port, v)
	case kNew:
		return v == "new" || v == "untracked"
	case kDnat:
		return v == "dnat" && p.hook == "forward"
	}
	return false
}

func (c cond) holds(p pkt) bool {
	for _, v := range c.vals {
		if c.test(p, v) {
			return !c.neg
		}
	}
	return c.neg
}

// eval says whether r matches p and what it does.
func (r *rule) eval(p pkt) (verdict, target string, ok bool) {
	for _, c := range r.conds {
		if !c.holds(p) {
			return "", "", false
		}
	}
	if r.vmapKey == 0 || r.vmap == nil {
		return r.verdict, r.target, true
	}
	var k string
	switch r.vmapKey {
	case kDev:
		k = p.dev
	case kProto:
		k = p.proto
	case kPort:
		k = strconv.Itoa(p.port)
	default:
		k = "new"
	}
	if v, ok := r.vmap[k]; ok {
		verb, t, _ := strings.Cut(v, " ")
		return verb, t, true
	}
	return "", "", false
}

// konst is a condition that holds or not whatever the packet.
func konst(b bool) cond {
	if b {
		return cond{kind: kTrue, vals: []string{""}}
	}
	return cond{kind: kFalse}
}

// chain is a chain and, for a base chain, its policy.
type chain struct {
	name   string
	policy string // "accept", "drop" or "" (not a base chain)
	rules  []rule
}

// ruleset maps chain names to chains (one table).
type ruleset map[string]*chain

// decision is where a packet's walk ended.
type decision struct {
	verdict string // accept, drop, reject; policy verdicts too
	rule    string // the deciding rule, or "policy drop" / "policy accept"
	chain   string
	ours    bool // knockd-go's rule (stopAt) was reached first
}

// maxDepth bounds jumps (the kernel allows more, but rulesets of routers
// nest a few levels).
const maxDepth = 16

// walk follows p from base chain name. Reaching knockd-go's rule stopAt
// ends the walk (ours set); other rules of ours are passed over (they
// match only granted sources).
func (rs ruleset) walk(name string, p pkt, stopAt string) decision {
	d, done := rs.walkChain(name, p, stopAt, 0)
	if done {
		return d
	}
	pol := ""
	if c := rs[name]; c != nil {
		pol = c.policy
	}
	if pol == "" {
		pol = vAccept
	}
	return decision{verdict: pol, rule: "policy " + pol, chain: name}
}

func (rs ruleset) walkChain(name string, p pkt, stopAt string, depth int) (decision, bool) {
	c := rs[name]
	if c == nil || depth > maxDepth {
		return decision{}, false
	}
	for i := range c.rules {
		r := &c.rules[i]
		v, target, ok := r.eval(p)
		if r.ours != "" {
			// Our rules match granted sources only; reaching one is
			// what counts.
			if r.ours == stopAt {
				return decision{ours: true, rule: r.text, chain: name}, true
			}
			continue
		}
		if !ok {
			continue
		}
		switch v {
		case vAccept, vDrop, vReject:
			return decision{verdict: v, rule: r.text, chain: name}, true
		case vReturn:
			return decision{}, false
		case vJump, vGoto:
			if d, done := rs.walkChain(target, p, stopAt, depth+1); done {
				return d, true
			}
			if v == vGoto {
				return decision{}, false
			}
		}
	}
	return decision{}, false
}

// tokens splits a rule into words, keeping "quoted strings" (quotes
// removed); with nft, braces, commas and semicolons are words of their own.
func tokens(s string, nft bool) []string {
	var out []string
	var b strings.Builder
	inQuote := false
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '"':
			inQuote = false
			out = append(out, b.String())
			b.Reset()
		case inQuote:
			b.WriteByte(c)
		case c == '"':
			flush()
			inQuote = true
		case c == ' ' || c == '\t':
			flush()
		case nft && (c == '{' || c == '}' || c == ',' || c == ';'):
			flush()
			out = append(out, string(c))
		default:
			b.WriteByte(c)
		}
	}
	flush()
	return out
}

// portIn reports whether port is in a list such as "22", "1000:2000",
// "1000-2000" or "22,80" (iptables' multiport).
func portIn(port int, list string) bool {
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, ":")
		if !isRange {
			lo, hi, isRange = strings.Cut(item, "-")
		}
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				b = 65535
			}
		}
		if port >= a && port <= b {
			return true
		}
	}
	return false
}

// devMatch compares a device with a rule's name, where "eth+" (iptables)
// or "eth*" (nft) matches a prefix.
func devMatch(dev, pattern string) bool {
	if n := len(pattern); n > 0 && (pattern[n-1] == '+' || pattern[n-1] == '*') {
		return strings.HasPrefix(dev, pattern[:n-1])
	}
	return dev == pattern
}
