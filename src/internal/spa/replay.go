package spa

import (
	"sync"
	"time"
)

// DefaultReplayCap is the replay cache capacity used when none is given.
const DefaultReplayCap = 4096

// ReplayCache remembers the SHA-256 of every authenticated packet whose
// timestamp was inside the window (fwknopd's digest cache key: the digest of
// the UDP payload as received). It is bounded: an entry is dropped only
// once it can no longer be accepted, that is at least twice the window after
// it was added and once the wall clock is more than one window past the
// packet's timestamp (so a clock stepped back does not revive it). When the
// cache is full of live entries, new packets are refused (fail closed);
// filling it takes that many packets authenticated with a door's keys.
//
// One cache may be shared by several Verifiers and kept across
// configuration reloads. It is safe for concurrent use.
type ReplayCache struct {
	// OnAdd, when set, is called (with the cache locked) for every digest
	// added, so that it can be kept where a restart will find it.
	OnAdd func(digest [32]byte, ts int64)

	mu    sync.Mutex
	cap   int
	seen  map[[32]byte]struct{}
	queue []replayEntry // insertion order, live part from head
	head  int
}

type replayEntry struct {
	key    [32]byte
	ts     int64         // packet timestamp, Unix seconds
	added  time.Time     // when it was added (keeps a monotonic reading)
	window time.Duration // the verifier's MaxAge
}

// NewReplayCache returns a cache holding at most capacity digests
// (DefaultReplayCap when capacity <= 0).
func NewReplayCache(capacity int) *ReplayCache {
	if capacity <= 0 {
		capacity = DefaultReplayCap
	}
	return &ReplayCache{cap: capacity, seen: make(map[[32]byte]struct{})}
}

// Len returns the number of digests held.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (e *replayEntry) removable(now time.Time) bool {
	return now.Sub(e.added) >= 2*e.window && now.Unix()-e.ts > int64(e.window/time.Second)
}

// has reports whether key is held.
func (c *ReplayCache) has(key [32]byte) bool {
	c.mu.Lock()
	_, ok := c.seen[key]
	c.mu.Unlock()
	return ok
}

// add records key, or reports a replay or a full cache.
func (c *ReplayCache) add(key [32]byte, ts int64, now time.Time, window time.Duration) *Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[key]; dup {
		return ErrReplay
	}
	c.expire(now, false)
	if len(c.seen) >= c.cap {
		c.expire(now, true)
		if len(c.seen) >= c.cap {
			return reject(ReasonReplayFull, "replay cache full (%d entries)", c.cap)
		}
	}
	c.seen[key] = struct{}{}
	c.queue = append(c.queue, replayEntry{key: key, ts: ts, added: now, window: window})
	if c.OnAdd != nil {
		c.OnAdd(key, ts)
	}
	return nil
}

// Remember adds a digest seen before a restart (a packet stamped ts),
// unless the cache is full of live entries; it is kept as if added at
// now, for a verifier whose window is window.
func (c *ReplayCache) Remember(key [32]byte, ts int64, now time.Time, window time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.seen[key]; dup || len(c.seen) >= c.cap {
		return
	}
	c.seen[key] = struct{}{}
	c.queue = append(c.queue, replayEntry{key: key, ts: ts, added: now, window: window})
}

// Digest is one entry of a cache.
type Digest struct {
	Key [32]byte
	TS  int64 // the packet's timestamp, Unix seconds
}

// Digests returns the entries still held, oldest first.
func (c *ReplayCache) Digests() []Digest {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Digest, 0, len(c.seen))
	for _, e := range c.queue[c.head:] {
		if _, ok := c.seen[e.key]; ok {
			out = append(out, Digest{e.key, e.ts})
		}
	}
	return out
}

// expire drops removable entries from the head of the queue, or from the
// whole queue when all is set.
func (c *ReplayCache) expire(now time.Time, all bool) {
	if all {
		live := c.queue[:0]
		for i := c.head; i < len(c.queue); i++ {
			if c.queue[i].removable(now) {
				delete(c.seen, c.queue[i].key)
			} else {
				live = append(live, c.queue[i])
			}
		}
		clear(c.queue[len(live):])
		c.queue, c.head = live, 0
		return
	}
	for c.head < len(c.queue) && c.queue[c.head].removable(now) {
		delete(c.seen, c.queue[c.head].key)
		c.queue[c.head] = replayEntry{}
		c.head++
	}
	if c.head > 0 && c.head*2 >= len(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
}
