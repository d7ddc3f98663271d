package doctor

import (
	"strings"
)

// parseIptablesSave reads the output of iptables-save into one ruleset per
// table ("filter", "nat", …).
func parseIptablesSave(out string) map[string]ruleset {
	tables := map[string]ruleset{}
	var cur ruleset
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "*"):
			cur = ruleset{}
			tables[line[1:]] = cur
		case cur == nil:
		case strings.HasPrefix(line, ":"):
			f := strings.Fields(line[1:])
			if len(f) >= 2 {
				c := &chain{name: f[0]}
				if f[1] != "-" {
					c.policy = strings.ToLower(f[1])
				}
				cur[f[0]] = c
			}
		case strings.HasPrefix(line, "-A "):
			f := tokens(line[3:], false)
			if len(f) == 0 {
				continue
			}
			c := cur[f[0]]
			if c == nil {
				c = &chain{name: f[0]}
				cur[f[0]] = c
			}
			c.rules = append(c.rules, iptablesRule(line, f[1:]))
		}
	}
	return tables
}

// iptablesRule compiles the words of one -A line (after the chain). It is
// long because it is one switch over iptables-save's options, each case a
// few lines sharing the negation and the rule being built.
func iptablesRule(text string, f []string) rule {
	r := rule{text: text, verdict: vNone}
	neg := false
	add := func(kind byte, v string) {
		r.conds = append(r.conds, cond{kind: kind, neg: neg, vals: []string{v}})
	}
	// is adds a condition that holds (or not) whatever the packet.
	is := func(b bool) {
		if b {
			add(kTrue, "")
		} else {
			add(kFalse, "")
		}
	}
	for i := 0; i < len(f); i++ {
		w := f[i]
		v := ""
		if i+1 < len(f) {
			v = f[i+1]
		}
		switch w {
		case "!":
			neg = true
			continue
		case "-p", "--protocol":
			v = strings.ToLower(v)
			if v == "all" {
				is(true)
			} else {
				add(kProto, v)
			}
			i++
		case "-i", "--in-interface":
			add(kDev, v)
			i++
		case "-s", "--source":
			// The knocker's address is any: a rule for some sources
			// does not decide for it.
			is(v == "0.0.0.0/0" || v == "::/0")
			i++
		case "--dport", "--destination-port", "--dports", "--destination-ports":
			add(kPort, v)
			i++
		case "--ctstate", "--state":
			v = strings.ToUpper(v)
			is(strings.Contains(v, "NEW") || strings.Contains(v, "UNTRACKED"))
			i++
		case "--match-set", "--mark", "--icmp-type", "--icmpv6-type", "--uid-owner", "--ctstatus":
			// Sources in a set, marks, ICMP: not a fresh knock.
			is(false)
			i++
		case "--src-type", "--dst-type":
			v = strings.ToUpper(v)
			is(!strings.Contains(v, "BROADCAST") && !strings.Contains(v, "MULTICAST") || strings.Contains(v, "LOCAL") || strings.Contains(v, "UNICAST"))
			i++
		case "--syn", "--tcp-flags":
			add(kProto, "tcp")
			if w == "--tcp-flags" {
				i += 2
			}
		case "-j", "--jump", "-g", "--goto":
			i++
			switch v {
			case "ACCEPT":
				r.verdict = vAccept
			case "DROP":
				r.verdict = vDrop
			case "REJECT":
				r.verdict = vReject
			case "RETURN":
				r.verdict = vReturn
			case "DNAT", "REDIRECT":
				r.verdict, r.target = "dnat", v
			case "LOG", "NFLOG", "MARK", "CONNMARK", "CT", "TCPMSS", "NOTRACK", "CLASSIFY", "DSCP", "TOS", "TTL", "ULOG", "SNAT", "MASQUERADE", "NETMAP":
				r.verdict = vNone
			default:
				r.verdict, r.target = vJump, v
				if w == "-g" || w == "--goto" {
					r.verdict = vGoto
				}
			}
		case "-m", "--match", "--comment", "--limit", "--limit-burst", "--reject-with", "--to-destination", "--to-ports", "--to-source", "-d", "--destination", "-o", "--out-interface":
			// Matches that hold for a knock (limits, comments, the
			// router's address) or do not concern the input side.
			i++
		}
		neg = false
	}
	if strings.HasPrefix(r.target, "KNOCKD_") {
		r.ours = r.target
	}
	return r
}
