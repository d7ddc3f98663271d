package control

import (
	"net/netip"
	"testing"
	"time"
)

// TestFlat: the flat status reads back with ParseFlat, one member per
// device and door field, the last knock included.
func TestFlat(t *testing.T) {
	at := time.Unix(1780000000, 0)
	st := Status{Running: true, Version: "1.0", Started: at, Now: at,
		Devices: []Device{{Name: "eth1", Present: true, Addresses: []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8::1")}}},
		Doors: []Door{{Name: "ssh", Kind: "knock", Attempts: 2, Last: Event{Time: at, Source: netip.MustParseAddr("203.0.113.9"), What: "stage 1 of 3"}},
			{Name: `q"d`, Kind: "spa"}}}
	m, err := ParseFlat(append(st.Flat(), '\n'))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"running": "true", "devices": "1", "device.0.name": "eth1", "device.0.present": "true",
		"device.0.addresses": "198.51.100.1 2001:db8::1", "doors": "2", "door.0.name": "ssh", "door.0.attempts": "2",
		"door.0.last_time": "1780000000", "door.0.last_source": "203.0.113.9", "door.0.last_what": "stage 1 of 3",
		"door.1.name": `q"d`, "door.1.last_time": "0", "door.1.last_source": ""} {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
}
