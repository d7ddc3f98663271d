package doctor

import (
	"sort"
	"strconv"
	"strings"

	"github.com/knockd-go/knockd-go/src/internal/door"
	"github.com/knockd-go/knockd-go/src/internal/l4"
)

// hookChain is one base chain a packet of a hook passes, in order.
type hookChain struct {
	rs    ruleset
	chain string
	table string
}

// view is the firewall as the checks see it.
type view struct {
	kind    string // iptables…, fw4, or the program read for none
	save    string // the program or command read
	input   []hookChain
	forward []hookChain
	// ours are the chains that must hold knockd-go's rules, by hook:
	// their walk must reach our rule.
	oursInput, oursForward, oursNat *hookChain
	oursName                        map[string]string // hook -> what our rule is called in messages
	oursID                          map[string]string // hook -> rule.ours of our rule
	nftText                         string
}

// firewallKind resolves the firewall option as the daemon does.
func (c *checker) firewallKind() string {
	kind := c.in.Set.Options.Firewall
	if kind != "auto" && kind != "" {
		return kind
	}
	grants := false
	for _, d := range c.doors() {
		grants = grants || !d.Actions.Grant.Empty()
	}
	if !grants {
		return "none"
	}
	if _, err := c.sys.LookPath("fw4"); err == nil {
		return "fw4"
	}
	if nft, err := c.sys.LookPath("nft"); err == nil {
		if _, err := c.sys.Run(nft, "list", "table", "inet", "fw4"); err == nil {
			return "fw4"
		}
	}
	if _, err := c.sys.LookPath("iptables"); err == nil {
		return "iptables"
	}
	return "none"
}

func (c *checker) firewall() {
	kind := c.firewallKind()
	v := c.readFirewall(kind)
	if v == nil {
		return
	}
	c.ruleOrder(v)
	c.silent(v)
}

// readFirewall reads the ruleset of kind; nil when it cannot (reported).
func (c *checker) readFirewall(kind string) *view {
	v := &view{kind: kind, oursName: map[string]string{}, oursID: map[string]string{}}
	switch kind {
	case "fw4":
		nft, err := c.sys.LookPath("nft")
		if err != nil {
			c.r.add("firewall", Problem, "firewall fw4: the nft program is missing", "opkg install nftables (firewall4 needs it)")
			return nil
		}
		out, err := c.sys.Run(nft, "list", "ruleset")
		v.save, v.nftText = "nft list ruleset", out
		if err != nil {
			c.r.add("firewall", Problem, "firewall fw4: nft list ruleset failed: "+err.Error(), "run knockd doctor as root")
			return nil
		}
		c.nftView(v, out)
		if v.oursInput == nil {
			c.r.add("firewall", Problem, "firewall fw4: there is no table inet fw4 (firewall4 is not running)",
				"/etc/init.d/firewall restart; or set firewall to iptables if this router has no firewall4")
			return nil
		}
		c.r.add("firewall", OK, "firewall fw4: table inet fw4 read", "")
		missing := []string{}
		for _, s := range []string{"knockd_open4", "knockd_open6", "knockd_dnat4", "knockd_fwd4"} {
			if !strings.Contains(out, " "+s+" {") {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			c.r.add("firewall", Problem, "firewall fw4: knockd-go's sets are missing from table inet fw4: "+strings.Join(missing, " "),
				"reinstall knockd-go (it ships /usr/share/nftables.d/table-pre/30-knockd-go.nft) and run fw4 reload, then kill -USR2 the daemon")
		}
		if _, err := c.sys.Stat("/usr/share/nftables.d/chain-pre/input/30-knockd-go.nft"); err != nil {
			c.r.add("firewall", Note, "firewall fw4: the include files of knockd-go are not in /usr/share/nftables.d: a fw4 reload removes knockd's rules until the daemon re-adds them",
				"reinstall the knockd-go package")
		}
		return v
	case "iptables", "iptables-legacy", "iptables-nft":
		prog := kind + "-save"
		path, err := c.sys.LookPath(prog)
		if err != nil {
			c.r.add("firewall", Problem, "firewall "+kind+": "+prog+" is missing", "install iptables (apt install iptables / opkg install iptables-zz-legacy)")
			return nil
		}
		out, err := c.sys.Run(path)
		v.save = prog
		if err != nil {
			c.r.add("firewall", Problem, "firewall "+kind+": "+prog+" failed: "+err.Error(), "run knockd doctor as root")
			return nil
		}
		c.iptablesView(v, out)
		c.r.add("firewall", OK, "firewall "+kind+": rules read with "+prog, "")
		return v
	case "none":
		// No backend: knockd's commands may still edit the firewall; the
		// knock ports are checked in what exists.
		if path, err := c.sys.LookPath("iptables-save"); err == nil {
			if out, err := c.sys.Run(path); err == nil && strings.Contains(out, "*filter") {
				v.save = "iptables-save"
				c.iptablesView(v, out)
				v.oursInput, v.oursForward, v.oursNat = nil, nil, nil
				c.r.add("firewall", OK, "firewall none: knockd opens nothing itself; knock ports checked with iptables-save", "")
				return v
			}
		}
		if path, err := c.sys.LookPath("nft"); err == nil {
			if out, err := c.sys.Run(path, "list", "ruleset"); err == nil {
				v.save = "nft list ruleset"
				c.nftView(v, out)
				v.oursInput, v.oursForward, v.oursNat = nil, nil, nil
				c.r.add("firewall", OK, "firewall none: knockd opens nothing itself; knock ports checked with nft list ruleset", "")
				return v
			}
		}
		c.r.add("firewall", Note, "firewall none and no ruleset readable: knock ports not checked", "")
		return nil
	}
	c.r.add("firewall", Problem, "firewall "+kind+": unknown backend", "set firewall to auto, iptables, fw4 or none")
	return nil
}

func (c *checker) iptablesView(v *view, out string) {
	t := parseIptablesSave(out)
	filter, nat := t["filter"], t["nat"]
	if filter == nil {
		filter = ruleset{}
	}
	v.input = []hookChain{{rs: filter, chain: "INPUT", table: "filter"}}
	v.forward = []hookChain{{rs: filter, chain: "FORWARD", table: "filter"}}
	v.oursInput, v.oursForward = &v.input[0], &v.forward[0]
	if nat != nil {
		v.oursNat = &hookChain{rs: nat, chain: "PREROUTING", table: "nat"}
	} else {
		v.oursNat = &hookChain{rs: ruleset{}, chain: "PREROUTING", table: "nat"}
	}
	v.oursName["input"], v.oursName["forward"], v.oursName["nat"] = "the jump to KNOCKD_INPUT", "the jump to KNOCKD_FORWARD", "the jump to KNOCKD_PREROUTING"
	v.oursID["input"], v.oursID["forward"], v.oursID["nat"] = "KNOCKD_INPUT", "KNOCKD_FORWARD", "KNOCKD_PREROUTING"
}

func (c *checker) nftView(v *view, out string) {
	tables := parseNft(out)
	// bc is a base chain, its priority and its place in the listing (the
	// tie-break: sort.Slice is not stable, and sort.SliceStable would be
	// linked for this one sort).
	type bc struct {
		hookChain
		prio, seq int
	}
	var in, fwd []bc
	for _, t := range tables {
		for _, b := range t.base {
			h := bc{hookChain{rs: t.rules, chain: b.chain, table: t.name}, b.prio, len(in) + len(fwd)}
			switch {
			case b.hook == "input":
				in = append(in, h)
			case b.hook == "forward":
				fwd = append(fwd, h)
			case b.hook == "prerouting" && t.name == "inet fw4" && b.chain == "dstnat":
				v.oursNat = &h.hookChain
			}
		}
	}
	byPrio := func(c []bc) func(i, j int) bool {
		return func(i, j int) bool { return c[i].prio < c[j].prio || c[i].prio == c[j].prio && c[i].seq < c[j].seq }
	}
	sort.Slice(in, byPrio(in))
	sort.Slice(fwd, byPrio(fwd))
	for _, h := range in {
		v.input = append(v.input, h.hookChain)
		if h.table == "inet fw4" {
			v.oursInput = &v.input[len(v.input)-1]
		}
	}
	for _, h := range fwd {
		v.forward = append(v.forward, h.hookChain)
		if h.table == "inet fw4" {
			v.oursForward = &v.forward[len(v.forward)-1]
		}
	}
	v.oursName["input"], v.oursName["forward"], v.oursName["nat"] = `the rule "knockd-go: open4"`, `the rule "knockd-go: forward4"`, `the rule "knockd-go: dnat4"`
	v.oursID["input"], v.oursID["forward"], v.oursID["nat"] = "knockd-go: open4", "knockd-go: forward4", "knockd-go: dnat4"
}

// through follows p through the base chains of a hook: a drop or reject
// ends it, an accept passes to the next base chain (nftables), the last
// decision stands.
func through(chains []hookChain, p pkt) decision {
	last := decision{verdict: vAccept, rule: "policy accept", chain: "(no chain)"}
	for _, h := range chains {
		d := h.rs.walk(h.chain, p, "")
		d.chain = h.table + " " + h.chain
		if d.verdict == vDrop || d.verdict == vReject {
			return d
		}
		last = d
	}
	return last
}

// ruleOrder checks that each door's grants reach knockd-go's rules before
// anything drops or accepts them.
func (c *checker) ruleOrder(v *view) {
	if v.oursInput == nil {
		return
	}
	fix := "restart knockd, or kill -USR2 $(cat " + c.in.Set.Options.PidFile + ") to restore its rules after a firewall reload"
	if strings.HasPrefix(v.kind, "iptables") {
		fix = "move knockd's jump first: " + v.kind + " -D INPUT -j KNOCKD_INPUT; " + v.kind + " -I INPUT 1 -j KNOCKD_INPUT (and the same for FORWARD), or restart knockd"
	} else if v.kind == "fw4" {
		fix = "fw4 reload (the includes put knockd-go's rules first), then kill -USR2 $(cat " + c.in.Set.Options.PidFile + ")"
	}
	for _, d := range c.doors() {
		g := d.Actions.Grant
		if g.Empty() {
			continue
		}
		var bad []string
		for _, dev := range c.devicesOf(d) {
			for _, p := range g.Open {
				pk := pkt{proto: p.Proto.String(), port: int(p.Num), dev: dev, hook: "input"}
				if s := reach(v.oursInput, pk, v.oursID["input"], v.oursName["input"]); s != "" {
					bad = append(bad, p.String()+" on "+dev+": "+s)
				}
			}
			for _, f := range g.Forward {
				pk := pkt{proto: f.Port.Proto.String(), port: int(f.To.Port()), dev: dev, hook: "forward", ipv6: f.To.Addr().Is6()}
				if v.oursForward != nil {
					if s := reach(v.oursForward, pk, v.oursID["forward"], v.oursName["forward"]); s != "" {
						bad = append(bad, "forward "+f.String()+" on "+dev+": "+s)
					}
				}
				if v.oursNat != nil && !hasOurs(v.oursNat, v.oursID["nat"]) {
					bad = append(bad, "forward "+f.String()+": "+v.oursName["nat"]+" is missing from "+v.oursNat.table+" "+v.oursNat.chain)
				}
			}
		}
		if len(bad) == 0 {
			c.r.add("rule order", OK, "door "+d.Name+": "+g.String()+" reaches knockd's rules first", "")
			continue
		}
		c.r.add("rule order", Problem, "door "+d.Name+": "+strings.Join(dedupe(bad), "; "), fix)
	}
}

// reach says why p does not reach our rule in h ("" when it does).
func reach(h *hookChain, p pkt, id, ours string) string {
	if !hasOurs(h, id) {
		return ours + " is missing from " + h.table + " " + h.chain + ": a knock opens nothing"
	}
	d := h.rs.walk(h.chain, p, id)
	switch {
	case d.ours:
		return ""
	case d.verdict == vAccept:
		return "accepted for everyone by `" + d.rule + "` in " + d.chain + " before " + ours + ": the door protects nothing"
	}
	return past(d.verdict) + " by `" + d.rule + "` in " + d.chain + " before " + ours + " is reached: a knock opens nothing"
}

// past is "dropped" or "rejected".
func past(verdict string) string {
	if verdict == vDrop {
		return "dropped"
	}
	return verdict + "ed"
}

// hasOurs reports whether any chain of h's table holds our rule id.
func hasOurs(h *hookChain, id string) bool {
	for _, c := range h.rs {
		for _, r := range c.rules {
			if r.ours == id {
				return true
			}
		}
	}
	return false
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		seen := false
		for _, y := range out {
			seen = seen || x == y
		}
		if !seen {
			out = append(out, x)
		}
	}
	return out
}

// silent checks that the knock ports are dropped without an answer: a
// reject (TCP reset, ICMP unreachable) or an accept (the kernel resets or
// answers port unreachable when nothing listens) shows a scanner that the
// port is special, and a sniffer which ports to replay.
func (c *checker) silent(v *view) {
	for _, d := range c.doors() {
		// Ports with the same fate are told together.
		type fate struct{ dev, verdict, rule, chain string }
		var fates []fate
		byFate := map[fate][]string{}
		for _, dev := range c.devicesOf(d) {
			for _, p := range knockPorts(d) {
				pk := pkt{proto: p.Proto.String(), port: int(p.Num), dev: dev, hook: "input"}
				dec := through(v.input, pk)
				if dec.verdict == vDrop {
					continue
				}
				k := fate{dev, dec.verdict, dec.rule, dec.chain}
				if byFate[k] == nil {
					fates = append(fates, k)
				}
				byFate[k] = append(byFate[k], p.String())
			}
		}
		var bad []string
		for _, k := range fates {
			by := "by `" + k.rule + "` in " + k.chain
			if strings.HasPrefix(k.rule, "policy ") {
				by = "by the " + k.rule + " of " + k.chain
			}
			s := strings.Join(byFate[k], " ") + " on " + k.dev
			if k.verdict == vReject {
				bad = append(bad, s+": rejected "+by)
			} else {
				bad = append(bad, s+": accepted "+by+" (the kernel answers when nothing listens)")
			}
		}
		ports := portWords(knockPorts(d))
		if len(bad) == 0 {
			c.r.add("knock ports", OK, "door "+d.Name+": "+ports+" dropped silently", "")
			continue
		}
		c.r.add("knock ports", Problem, "door "+d.Name+": "+strings.Join(dedupe(bad), "; ")+": the answer betrays the knock port", c.dropFix(v, d))
	}
}

// dropFix says how to drop a door's knock ports silently: one rule per
// protocol.
func (c *checker) dropFix(v *view, d *door.Door) string {
	var protos []l4.Proto
	ports := map[l4.Proto][]string{}
	for _, p := range knockPorts(d) {
		if ports[p.Proto] == nil {
			protos = append(protos, p.Proto)
		}
		ports[p.Proto] = append(ports[p.Proto], strconv.Itoa(int(p.Num)))
	}
	if r := d.Rotate; r != nil {
		ports[r.Proto] = []string{strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))}
	}
	var cmds []string
	for _, proto := range protos {
		ps := ports[proto]
		switch {
		case v.kind == "fw4":
			cmds = append(cmds, "uci add firewall rule; uci set firewall.@rule[-1].name='knockd-go "+d.Name+" "+proto.String()+
				"'; uci set firewall.@rule[-1].src=wan; uci set firewall.@rule[-1].proto="+proto.String()+
				"; uci set firewall.@rule[-1].dest_port='"+strings.Join(ps, " ")+"'; uci set firewall.@rule[-1].target=DROP")
		case strings.HasPrefix(v.save, "nft"):
			cmds = append(cmds, "nft insert rule inet filter input "+proto.String()+" dport { "+strings.Join(ps, ", ")+" } drop")
		default:
			prog := v.kind
			if !strings.HasPrefix(prog, "iptables") {
				prog = "iptables"
			}
			list := strings.ReplaceAll(strings.Join(ps, ","), "-", ":")
			cmds = append(cmds, prog+" -I INPUT 2 -p "+proto.String()+" -m multiport --dports "+list+" -j DROP")
		}
	}
	fix := strings.Join(cmds, "; ")
	switch {
	case v.kind == "fw4":
		fix += "; uci commit firewall; fw4 reload (or set the wan zone's input to DROP)"
	case strings.HasPrefix(v.save, "nft"):
		fix += " (your input chain's table and name may differ: nft list ruleset shows them)"
	default:
		fix += " (after knockd's jump, which stays first)"
	}
	return fix
}

// portWords lists ports: "tcp/7000 tcp/8000".
func portWords(ps []l4.Port) string {
	var w []string
	for _, p := range ps {
		w = append(w, p.String())
	}
	return strings.Join(w, " ")
}
