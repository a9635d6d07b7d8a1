// hv/vdev/pl011: an emulated ARM PrimeCell PL011 UART for guests.
// SPDX-License-Identifier: BSD-3-Clause

package pl011

import "sync"

// DefaultRingSize is the console log size of one VM.
const DefaultRingSize = 16 << 10

// Ring is a fixed-size log of the last bytes written to it, for a VM's
// console history (`vm log`). It never grows and never blocks a writer:
// once full, each write overwrites the oldest bytes. Every byte ever
// written has an absolute position (0, 1, 2 ...), so a reader can follow
// the log with Since and learn how much it missed.
//
// A Ring is safe for concurrent use: a vCPU writes while the shell reads.
type Ring struct {
	mu      sync.Mutex
	buf     []byte
	written uint64 // bytes ever written; the next byte's position
	start   uint64 // position of the first byte after the last Reset
}

// NewRing returns an empty Ring keeping the last size bytes, or
// DefaultRingSize bytes when size is not positive.
func NewRing(size int) *Ring {
	if size <= 0 {
		size = DefaultRingSize
	}
	return &Ring{buf: make([]byte, size)}
}

// Write implements io.Writer. It always takes all of p and never fails;
// when p is longer than the ring only its tail is kept.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	size := len(r.buf)
	if len(p) > size {
		r.written += uint64(len(p) - size)
		p = p[len(p)-size:]
	}
	for len(p) > 0 {
		at := int(r.written % uint64(size))
		c := copy(r.buf[at:], p)
		p = p[c:]
		r.written += uint64(c)
	}
	return n, nil
}

// retained returns how many bytes the ring holds. Caller holds mu.
func (r *Ring) retained() uint64 {
	return min(r.written-r.start, uint64(len(r.buf)))
}

// copyFrom returns a copy of the bytes at positions [pos, written), all of
// which must still be retained. Caller holds mu.
func (r *Ring) copyFrom(pos uint64) []byte {
	out := make([]byte, 0, r.written-pos)
	size := uint64(len(r.buf))
	for pos < r.written {
		at := pos % size
		end := min(size, at+(r.written-pos))
		out = append(out, r.buf[at:end]...)
		pos += end - at
	}
	return out
}

// Bytes returns a copy of everything the ring holds, oldest first.
func (r *Ring) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.copyFrom(r.written - r.retained())
}

// Tail returns a copy of the last n bytes held (fewer if the ring holds
// fewer).
func (r *Ring) Tail(n int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n <= 0 {
		return []byte{}
	}
	return r.copyFrom(r.written - min(uint64(n), r.retained()))
}

// Since returns a copy of the bytes written at positions pos and later,
// and next, the position to pass on the following call. If some of those
// bytes were already overwritten, data starts at the oldest byte still
// held and lost says how many were skipped. A pos beyond the end returns
// nothing, with next at the end.
func (r *Ring) Since(pos uint64) (data []byte, next, lost uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pos >= r.written {
		return []byte{}, r.written, 0
	}
	if oldest := r.written - r.retained(); pos < oldest {
		lost = oldest - pos
		pos = oldest
	}
	return r.copyFrom(pos), r.written, lost
}

// Written returns the number of bytes ever written: the position the
// next byte will have.
func (r *Ring) Written() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.written
}

// Len returns how many bytes the ring holds now.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.retained())
}

// Cap returns the ring's size.
func (r *Ring) Cap() int { return len(r.buf) }

// Reset empties the ring. Positions keep counting, so a reader
// following with Since sees the discarded bytes as lost.
func (r *Ring) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start = r.written
}
