package daemon

import "golang.org/x/net/bpf"

type bpfRaw = bpf.RawInstruction
