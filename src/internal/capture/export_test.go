//go:build linux

package capture

// packet returns the i-th packet of the last read; valid until the next.
func (r *batchReader) packet(i int) []byte {
	l := int(r.hdrs[i].len)
	if l > r.slot {
		l = r.slot
	}
	return r.bufs[i*r.slot : i*r.slot+l]
}
