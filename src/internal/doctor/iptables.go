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

// iptablesRule compiles the words of one -A line (after the chain).
func iptablesRule(text string, f []string) rule {
	type cond func(p pkt) bool
	var conds []cond
	verdict, target := vNone, ""
	neg := false
	add := func(c cond) {
		n := neg
		conds = append(conds, func(p pkt) bool { return c(p) != n })
		neg = false
	}
	arg := func(i int) string {
		if i+1 < len(f) {
			return f[i+1]
		}
		return ""
	}
	for i := 0; i < len(f); i++ {
		w := f[i]
		switch w {
		case "!":
			neg = true
			continue
		case "-p", "--protocol":
			v := strings.ToLower(arg(i))
			add(func(p pkt) bool { return v == "all" || v == p.proto })
			i++
		case "-i", "--in-interface":
			v := arg(i)
			add(func(p pkt) bool { return devMatch(p.dev, v) })
			i++
		case "-s", "--source":
			v := arg(i)
			// The knocker's address is any: a rule for some sources
			// does not decide for it.
			add(func(pkt) bool { return v == "0.0.0.0/0" || v == "::/0" })
			i++
		case "--dport", "--destination-port", "--dports", "--destination-ports":
			v := arg(i)
			add(func(p pkt) bool { return portIn(p.port, v) })
			i++
		case "--ctstate", "--state":
			v := strings.ToUpper(arg(i))
			add(func(pkt) bool { return strings.Contains(v, "NEW") || strings.Contains(v, "UNTRACKED") })
			i++
		case "--match-set", "--mark", "--icmp-type", "--icmpv6-type", "--uid-owner", "--ctstatus":
			// Sources in a set, marks, ICMP: not a fresh knock.
			add(func(pkt) bool { return false })
			i++
		case "--src-type", "--dst-type":
			v := strings.ToUpper(arg(i))
			add(func(pkt) bool {
				return !strings.Contains(v, "BROADCAST") && !strings.Contains(v, "MULTICAST") || strings.Contains(v, "LOCAL") || strings.Contains(v, "UNICAST")
			})
			i++
		case "--syn", "--tcp-flags":
			add(func(p pkt) bool { return p.proto == "tcp" })
			if w == "--tcp-flags" {
				i += 2
			}
		case "-j", "--jump", "-g", "--goto":
			t := arg(i)
			i++
			switch t {
			case "ACCEPT":
				verdict = vAccept
			case "DROP":
				verdict = vDrop
			case "REJECT":
				verdict = vReject
			case "RETURN":
				verdict = vReturn
			case "LOG", "NFLOG", "MARK", "CONNMARK", "CT", "TCPMSS", "NOTRACK", "CLASSIFY", "DSCP", "TOS", "TTL", "ULOG", "SNAT", "DNAT", "MASQUERADE", "REDIRECT", "NETMAP":
				verdict = vNone
				if t == "DNAT" || t == "REDIRECT" {
					verdict, target = "dnat", t
				}
			default:
				verdict, target = vJump, t
				if w == "-g" || w == "--goto" {
					verdict = vGoto
				}
			}
		case "-m", "--match", "--comment", "--limit", "--limit-burst", "--reject-with", "--to-destination", "--to-ports", "--to-source", "-d", "--destination", "-o", "--out-interface":
			// Matches that hold for a knock (limits, comments, the
			// router's address) or do not concern the input side.
			i++
		}
		neg = false
	}
	ours := ""
	if strings.HasPrefix(target, "KNOCKD_") {
		ours = target
	}
	return rule{text: text, ours: ours, eval: func(p pkt) (string, string, bool) {
		for _, c := range conds {
			if !c(p) {
				return "", "", false
			}
		}
		return verdict, target, true
	}}
}
