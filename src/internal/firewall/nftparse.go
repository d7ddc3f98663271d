package firewall

import (
	"net/netip"
	"strconv"
	"strings"
)

// nftTable is what the fw4 backend needs from `nft -t -a list table`.
type nftTable struct {
	chains map[string]bool
	sets   map[string]bool       // sets and maps
	rules  map[string]nftRuleRef // rules whose comment starts with "knockd-go", by comment
}

type nftRuleRef struct {
	_      [0]func() // not comparable: no equality function in the binary
	chain  string
	handle uint64
}

// parseNftTable reads the listing of one table (`nft -t -a list table`):
// its chains, sets and maps, and the chain and handle of the rules whose
// comment starts with "knockd-go". Unknown lines are skipped.
func parseNftTable(out string) nftTable {
	t := nftTable{chains: map[string]bool{}, sets: map[string]bool{}, rules: map[string]nftRuleRef{}}
	depth := 0
	chain := ""
	for _, line := range strings.Split(out, "\n") {
		code, comment := splitNftComment(line)
		f := strings.Fields(code)
		if depth == 1 && len(f) >= 3 && f[2] == "{" {
			switch f[0] {
			case "chain":
				chain = f[1]
				t.chains[chain] = true
			case "set", "map":
				t.sets[f[1]] = true
			}
		}
		if depth == 2 && chain != "" {
			if c, ok := quotedAfter(code, "comment "); ok && strings.HasPrefix(c, "knockd-go") {
				if h, ok := handleOf(comment); ok {
					t.rules[c] = nftRuleRef{chain: chain, handle: h}
				}
			}
		}
		depth += braceDelta(code)
		if depth < 0 {
			depth = 0
		}
		if depth < 2 {
			chain = ""
		}
	}
	return t
}

// splitNftComment splits a listing line at the first '#' outside quotes.
func splitNftComment(line string) (code, comment string) {
	inq := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			if inq {
				i++
			}
		case '"':
			inq = !inq
		case '#':
			if !inq {
				return line[:i], line[i+1:]
			}
		}
	}
	return line, ""
}

// braceDelta counts '{' minus '}' outside quotes.
func braceDelta(s string) int {
	n, inq := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inq {
				i++
			}
		case '"':
			inq = !inq
		case '{':
			if !inq {
				n++
			}
		case '}':
			if !inq {
				n--
			}
		}
	}
	return n
}

// quotedAfter returns the quoted string that follows the last occurrence
// of word in s.
func quotedAfter(s, word string) (string, bool) {
	i := strings.LastIndex(s, word+`"`)
	if i < 0 {
		return "", false
	}
	rest := s[i+len(word)+1:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// handleOf reads " handle N" from a listing comment.
func handleOf(comment string) (uint64, bool) {
	f := strings.Fields(comment)
	if len(f) != 2 || f[0] != "handle" {
		return 0, false
	}
	h, err := strconv.ParseUint(f[1], 10, 64)
	return h, err == nil
}

// parseNftElements reads the elements of a set or map listing (`nft -n
// list set|map`), returning keys and map data in the canonical form of
// nftElem (addresses normalised, protocols and ports as numbers).
func parseNftElements(out string) []nftElem {
	i := strings.Index(out, "elements = {")
	if i < 0 {
		return nil
	}
	body := out[i+len("elements = {"):]
	// The element list ends at the first '}' outside quotes.
	inq := false
	end := len(body)
scan:
	for j := 0; j < len(body); j++ {
		switch body[j] {
		case '"':
			inq = !inq
		case '}':
			if !inq {
				end = j
				break scan
			}
		}
	}
	body = body[:end]
	var out2 []nftElem
	for _, item := range splitOutsideQuotes(body, ',') {
		f := strings.Fields(item)
		var key, val []string
		target := &key
		for k := 0; k < len(f); k++ {
			switch f[k] {
			case "timeout", "expires":
				k++ // skip the value
			case "comment", "counter":
				k = len(f) // comments and counters end what we read
			case ":":
				target = &val
			case ".":
			default:
				*target = append(*target, canonPart(f[k]))
			}
		}
		if len(key) == 0 {
			continue
		}
		out2 = append(out2, nftElem{key: strings.Join(key, " . "), val: strings.Join(val, " . ")})
	}
	return out2
}

func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	inq, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inq = !inq
		case sep:
			if !inq {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// canonPart normalises one part of a concatenated key or value.
func canonPart(tok string) string {
	if a, err := netip.ParseAddr(tok); err == nil {
		return a.Unmap().String()
	}
	switch tok {
	case "tcp":
		return "6"
	case "udp":
		return "17"
	}
	if n, err := strconv.ParseUint(tok, 10, 32); err == nil {
		return strconv.FormatUint(n, 10)
	}
	return tok
}
