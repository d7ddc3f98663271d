package firewall

import (
	"fmt"
	"strings"
	"time"
)

// IncludeFiles returns the fw4 include files of the backend, keyed by path
// relative to /usr/share/nftables.d. The package installs exactly these.
func IncludeFiles() map[string]string {
	const head = "# knockd-go: port-knocking grants (elements added with a timeout by knockd).\n" +
		"# Installed by the knockd-go package; read by fw4 on every start and reload.\n"
	files := map[string]string{}
	var b strings.Builder
	b.WriteString(head)
	for _, o := range nftObjs {
		fmt.Fprintf(&b, "\n%s %s {\n\ttype %s\n\tflags timeout\n}\n", o.kind, o.name, o.typ)
	}
	files["table-pre/30-knockd-go.nft"] = b.String()
	for _, r := range nftRules {
		p := "chain-pre/" + r.chain + "/30-knockd-go.nft"
		if files[p] == "" {
			files[p] = head + "\n"
		}
		files[p] += fmt.Sprintf("%s comment %q\n", r.body, r.comment)
	}
	return files
}

// The manager's tests are an external package (they drive a
// firewalltest.Fake, which imports this package); these are the internal
// test helpers and internals they use.

type FakeClock = fakeClock

var (
	NewFakeClock = newFakeClock
	TestLog      = testLog
	SrcA, SrcB   = srcA, srcB
	SrcC         = srcC
	SSH, Web     = ssh, web
)

const IdleWait = idleWait

func (m *Manager) NextWake(now time.Time) time.Duration { return m.nextWake(now) }

func (m *Manager) Tick() { m.tick() }

func (m *Manager) SetOnExpire(f func(Grant)) { m.opt.OnExpire = f }

// ActiveLocked is activeLocked with m.mu held.
func (m *Manager) ActiveLocked() []Grant {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.activeLocked()
}
