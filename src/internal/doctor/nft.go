package doctor

import (
	"strconv"
	"strings"
)

// nftTable is one table of `nft list ruleset`: its chains, and the base
// chains by hook with their priorities.
type nftTable struct {
	name  string // "inet fw4"
	rules ruleset
	base  []nftBase
}

type nftBase struct {
	chain, hook string
	prio        int
	_           [0]func() // not comparable: no equality function in the binary
}

// parseNft reads the output of `nft list ruleset` (or `nft list table`).
// Sets, maps and flowtables are skipped.
func parseNft(out string) []*nftTable {
	var tables []*nftTable
	var t *nftTable
	var c *chain
	skip := 0 // brace depth inside a set, map or other block
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if skip > 0 {
			skip += strings.Count(line, "{") - strings.Count(line, "}")
			continue
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "table" && len(f) >= 3:
			t = &nftTable{name: f[1] + " " + f[2], rules: ruleset{}}
			tables = append(tables, t)
		case t == nil:
		case f[0] == "chain" && len(f) >= 2 && c == nil:
			c = &chain{name: f[1]}
			t.rules[c.name] = c
		case c == nil && line == "}":
			t = nil
		case c == nil && strings.HasSuffix(line, "{"):
			skip = 1 // set, map, flowtable, counter, …
		case c == nil:
		case line == "}":
			c = nil
		case f[0] == "type" && strings.Contains(line, " hook "):
			b := nftBase{chain: c.name}
			for i := 0; i+1 < len(f); i++ {
				switch f[i] {
				case "hook":
					b.hook = f[i+1]
				case "priority":
					b.prio = nftPriority(strings.TrimSuffix(strings.Join(f[i+1:], " "), ";"))
				case "policy":
					c.policy = strings.TrimSuffix(f[i+1], ";")
				}
			}
			if c.policy == "" {
				c.policy = vAccept
			}
			t.base = append(t.base, b)
		case f[0] == "policy":
			c.policy = strings.TrimSuffix(f[1], ";")
		default:
			c.rules = append(c.rules, nftRule(line))
		}
	}
	return tables
}

// nftPriority reads "filter", "filter - 1", "dstnat", "-100", ….
func nftPriority(s string) int {
	f := strings.Fields(strings.Split(s, ";")[0])
	if len(f) == 0 {
		return 0
	}
	names := map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
	v, ok := names[f[0]]
	if !ok {
		v, _ = strconv.Atoi(f[0])
	}
	if len(f) == 3 {
		n, _ := strconv.Atoi(f[2])
		if f[1] == "-" {
			n = -n
		}
		v += n
	}
	return v
}

// nftRule compiles one rule line of nft's listing. It is long because it
// is one switch over the words nft prints, each case a few lines: split,
// the cases would need the parser's state (position, vmap, negation)
// passed around, and one reads the grammar best in one place.
func nftRule(text string) rule {
	f := tokens(text, true)
	r := rule{text: text, verdict: vNone}
	vmap := false
	// values reads a value or a { a, b } set at f[i], returning them and
	// the index of the last word read.
	values := func(i int) ([]string, int) {
		if i >= len(f) {
			return nil, i
		}
		if f[i] != "{" {
			return []string{f[i]}, i
		}
		var vs []string
		for i++; i < len(f) && f[i] != "}"; i++ {
			if f[i] != "," {
				vs = append(vs, f[i])
			}
		}
		return vs, i
	}
	// compare adds a condition of kind on f[i:] (optional != then
	// values); with a vmap there, the packet's key of that kind picks
	// the verdict instead.
	compare := func(i int, kind byte) int {
		if i < len(f) && f[i] == "vmap" && (kind == kDev || kind == kProto || kind == kPort || kind == kNew) {
			r.vmapKey = kind
			return i - 1 // the vmap case reads it
		}
		neg := false
		if i < len(f) && (f[i] == "!=" || f[i] == "==") {
			neg = f[i] == "!="
			i++
		}
		if i < len(f) && f[i] == "vmap" {
			return i - 1 // handled by the vmap case
		}
		vs, last := values(i)
		r.conds = append(r.conds, cond{kind: kind, neg: neg, vals: vs})
		return last
	}
	for i := 0; i < len(f); i++ {
		w := f[i]
		next := ""
		if i+1 < len(f) {
			next = f[i+1]
		}
		switch {
		case w == "comment":
			if strings.HasPrefix(next, "knockd-go:") {
				r.ours = next
			}
			i++
		case w == "iifname" || w == "iif":
			i = compare(i+1, kDev)
		case w == "oifname" || w == "oif":
			i = compare(i+1, kTrue)
		case w == "meta" && next == "l4proto", w == "ip" && next == "protocol", w == "ip6" && next == "nexthdr":
			i = compare(i+2, kProto)
		case w == "meta" && next == "nfproto":
			i = compare(i+2, kNfproto)
		case (w == "tcp" || w == "udp" || w == "th") && next == "dport":
			r.conds = append(r.conds, cond{kind: kL4, vals: []string{w}})
			i = compare(i+2, kPort)
		case (w == "tcp" || w == "udp") && next == "flags":
			r.conds = append(r.conds, cond{kind: kProto, vals: []string{w}})
			i++
			for i+1 < len(f) && !nftVerdictWord(f[i+1]) {
				i++
			}
		case (w == "tcp" || w == "udp") && (next == "sport" || next == "option"):
			r.conds = append(r.conds, cond{kind: kProto, vals: []string{w}})
		case w == "ct" && next == "state":
			i = compare(i+2, kNew)
		case w == "ct" && next == "status":
			i = compare(i+2, kDnat)
		case w == "saddr" || w == "mark" || w == "icmp" || w == "icmpv6" || strings.HasPrefix(w, "@"):
			// Some sources, marks, ICMP: not a fresh knock from anywhere.
			r.conds = append(r.conds, konst(false))
			if w == "saddr" || w == "mark" {
				_, i = values(i + 1)
			}
		case w == "fib":
			j := i
			for j < len(f) && f[j] != "accept" && f[j] != "drop" && f[j] != "return" && f[j] != "jump" {
				j++
			}
			seg := strings.Join(f[i:j], " ")
			bad := strings.Contains(seg, "broadcast") || strings.Contains(seg, "multicast") || strings.Contains(seg, "anycast") || strings.Contains(seg, "missing")
			r.conds = append(r.conds, konst(!bad))
			i = j - 1
		case w == "vmap":
			vmap = true
			_, i = values(i + 1)
		case w == "accept" || w == "drop":
			r.verdict = w
		case w == "reject" || w == "dnat" || w == "redirect":
			r.verdict = vReject
			if w != "reject" {
				r.verdict = "dnat"
			}
			for i+1 < len(f) && f[i+1] != "comment" {
				i++
			}
		case w == "return":
			r.verdict = vReturn
		case w == "jump" || w == "goto":
			r.verdict, r.target = w, next
			i++
		}
	}
	// values() splits "key : verdict" items; read the vmap from the text.
	if vmap {
		r.vmap = nftVmap(text)
	}
	return r
}

// nftVerdictWord reports whether w ends the words of a tcp flags match.
func nftVerdictWord(w string) bool {
	switch w {
	case "accept", "drop", "jump", "goto", "counter", "return", "reject":
		return true
	}
	return false
}

// nftVmap reads the { key : verdict, … } of a vmap rule.
func nftVmap(text string) map[string]string {
	m := map[string]string{}
	_, rest, ok := strings.Cut(text, "vmap {")
	if !ok {
		return m
	}
	body, _, _ := strings.Cut(rest, "}")
	for _, item := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(item, ":")
		if ok {
			m[strings.Trim(strings.TrimSpace(k), `"`)] = strings.TrimSpace(v)
		}
	}
	return m
}
