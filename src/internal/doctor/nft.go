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

// nftRule compiles one rule line of nft's listing.
func nftRule(text string) rule {
	f := tokens(text, true)
	type cond func(p pkt) bool
	var conds []cond
	verdict, target := vNone, ""
	var vmap map[string]string // key -> "accept" / "jump x"
	var vmapKey func(p pkt) []string
	ours := ""
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
	// compare adds a condition on f[i:] (optional != then values).
	compare := func(i int, test func(p pkt, v string) bool) int {
		neg := false
		if i < len(f) && (f[i] == "!=" || f[i] == "==") {
			neg = f[i] == "!="
			i++
		}
		if i < len(f) && f[i] == "vmap" {
			return i - 1 // handled by the vmap case
		}
		vs, last := values(i)
		conds = append(conds, func(p pkt) bool {
			for _, v := range vs {
				if test(p, v) {
					return !neg
				}
			}
			return neg
		})
		return last
	}
	for i := 0; i < len(f); i++ {
		w := f[i]
		next := func(k int) string {
			if i+k < len(f) {
				return f[i+k]
			}
			return ""
		}
		switch {
		case w == "comment":
			if strings.HasPrefix(next(1), "knockd-go:") {
				ours = next(1)
			}
			i++
		case w == "iifname" || w == "iif":
			if next(1) == "vmap" {
				vmapKey = func(p pkt) []string { return []string{p.dev} }
				continue
			}
			i = compare(i+1, func(p pkt, v string) bool { return devMatch(p.dev, v) })
		case w == "oifname" || w == "oif":
			i = compare(i+1, func(pkt, string) bool { return true })
		case w == "meta" && next(1) == "l4proto", w == "ip" && next(1) == "protocol", w == "ip6" && next(1) == "nexthdr":
			i++
			if next(1) == "vmap" {
				vmapKey = func(p pkt) []string { return []string{p.proto} }
				continue
			}
			i = compare(i+1, func(p pkt, v string) bool { return v == p.proto })
		case w == "meta" && next(1) == "nfproto":
			i++
			i = compare(i+1, func(p pkt, v string) bool { return v == "ipv6" == p.ipv6 })
		case (w == "tcp" || w == "udp" || w == "th") && next(1) == "dport":
			proto := w
			conds = append(conds, func(p pkt) bool { return proto == "th" || p.proto == proto })
			i++
			if next(1) == "vmap" {
				vmapKey = func(p pkt) []string { return []string{strconv.Itoa(p.port)} }
				continue
			}
			i = compare(i+1, func(p pkt, v string) bool { return portIn(p.port, v) })
		case (w == "tcp" || w == "udp") && next(1) == "flags":
			proto := w
			conds = append(conds, func(p pkt) bool { return p.proto == proto })
			i++
			for i+1 < len(f) && f[i+1] != "accept" && f[i+1] != "drop" && f[i+1] != "jump" && f[i+1] != "goto" && f[i+1] != "counter" && f[i+1] != "return" && f[i+1] != "reject" {
				i++
			}
		case (w == "tcp" || w == "udp") && (next(1) == "sport" || next(1) == "option"):
			proto := w
			conds = append(conds, func(p pkt) bool { return p.proto == proto })
		case w == "ct" && next(1) == "state":
			i++
			if next(1) == "vmap" {
				vmapKey = func(pkt) []string { return []string{"new"} }
				continue
			}
			i = compare(i+1, func(_ pkt, v string) bool { return v == "new" || v == "untracked" })
		case w == "ct" && next(1) == "status":
			i++
			i = compare(i+1, func(p pkt, v string) bool { return v == "dnat" && p.hook == "forward" })
		case w == "saddr" || w == "mark" || w == "icmp" || w == "icmpv6" || strings.HasPrefix(w, "@"):
			// Some sources, marks, ICMP: not a fresh knock from anywhere.
			conds = append(conds, func(pkt) bool { return false })
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
			conds = append(conds, func(pkt) bool { return !bad })
			i = j - 1
		case w == "vmap":
			vmap = map[string]string{}
			vs, last := values(i + 1)
			for _, v := range vs {
				k, val, _ := strings.Cut(v, ":")
				if k == "" && val == "" {
					continue
				}
				vmap[strings.TrimSpace(k)] = strings.TrimSpace(val)
			}
			i = last
		case w == "accept" || w == "drop":
			verdict = w
		case w == "reject":
			verdict = vReject
			for i+1 < len(f) && f[i+1] != "comment" {
				i++
			}
		case w == "return":
			verdict = vReturn
		case w == "jump" || w == "goto":
			verdict, target = w, next(1)
			i++
		case w == "dnat" || w == "redirect":
			verdict = "dnat"
			for i+1 < len(f) && f[i+1] != "comment" {
				i++
			}
		}
	}
	// values() keeps "key : verdict" items split by the tokenizer; join
	// them back when a vmap was read.
	if vmap != nil {
		vmap = nftVmap(text)
	}
	return rule{text: text, ours: ours, eval: func(p pkt) (string, string, bool) {
		for _, c := range conds {
			if !c(p) {
				return "", "", false
			}
		}
		if vmapKey != nil && vmap != nil {
			for _, k := range vmapKey(p) {
				if v, ok := vmap[k]; ok {
					verb, t, _ := strings.Cut(v, " ")
					return verb, t, true
				}
			}
			return "", "", false
		}
		return verdict, target, true
	}}
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
