package firewall

import (
	"fmt"
	"strings"
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
