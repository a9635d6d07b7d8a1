// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tamavisor/tamavisor/hotpatch/gofunc"
	pf "github.com/tamavisor/tamavisor/hotpatch/payload"
)

// PayloadEngine is the Engine for signed hotpatch/payload files against
// the running image (docs/hotpatch.md, "Applying"):
//
//   - Load authenticates and parses the payload, decodes its Go runtime
//     metadata (.tvpatch.pcln) and reserves arena space for its code;
//   - Check runs payload.Check against the image's build-id and symbol
//     table, and checks the metadata against the code;
//   - Apply links the code at its arena address, writes it, registers it
//     with the Go runtime as a module (Runtime), stops the world
//     (Quiesce) and writes the trampolines, all or nothing;
//   - Revert stops the world and puts the original entry bytes back.
//
// Without Code (a host build, or a board that has none) Apply and Revert
// return ENOSYS and change nothing.
type PayloadEngine struct {
	// Keys are the accepted ed25519 public keys (embedded at build time).
	Keys []ed25519.PublicKey
	// Image is the running image; nil when it carries no symbol table
	// (not post-linked), and then Check refuses with ENOSYS.
	Image pf.Image
	// ImageErr says why Image is nil.
	ImageErr error
	// Code is where payload code goes and how code is changed.
	Code CodeMemory
	// Runtime registers payload code and its metadata with the Go
	// runtime (hotpatch/gomodule.Register on the target).
	Runtime func(name string, t *gofunc.Tables, text, size uint64) error
	// Quiesce stops every vCPU (vmm.Manager.Quiesce). It returns the
	// function that lets them run again and how long stopping took.
	Quiesce func(timeout time.Duration) (resume func(), wait time.Duration, err error)
	// Now is a monotonic clock for the pause statistics (nil: time.Now).
	Now func() time.Time

	once  sync.Once
	arena *arena

	mu    sync.Mutex        // guards orig and stats
	orig  map[uint64][]byte // original entry bytes of every patched function
	stats EngineStats
}

// EngineStats are the engine's counters and its stop-the-world times
// (docs/hotpatch.md, "Pause").
type EngineStats struct {
	Applies, Reverts uint64
	// Busy counts applies and reverts refused because the world did not
	// stop in time.
	Busy uint64
	// LastQuiesce is how long the last stop took to reach every vCPU;
	// LastPause how long the world then stayed stopped (the trampoline
	// writes, their cache maintenance and the read-back); MaxPause the
	// longest such pause.
	LastQuiesce, LastPause, MaxPause time.Duration
	// Apply, Revert and Replace are the stop-the-world times of each
	// kind of switch that succeeded (docs/hotpatch.md, "Pause").
	Apply, Revert, Replace PauseStats
	// Modules is how many payload modules the runtime knows.
	Modules int
	// Arena size, free and retired bytes.
	ArenaSize, ArenaFree, ArenaRetired uint64
}

// PauseStats sums the stops of one kind of switch: N stops, the time
// each took to stop every vCPU (Quiesce), and the time the world then
// stayed stopped (Pause).
type PauseStats struct {
	N                        uint64
	QuiesceTotal, QuiesceMax time.Duration
	PauseTotal, PauseMax     time.Duration
}

// add records one stop.
func (p *PauseStats) add(wait, pause time.Duration) {
	p.N++
	p.QuiesceTotal += wait
	p.QuiesceMax = max(p.QuiesceMax, wait)
	p.PauseTotal += pause
	p.PauseMax = max(p.PauseMax, pause)
}

// Mean returns the mean quiesce wait and pause (0 without stops).
func (p PauseStats) Mean() (quiesce, pause time.Duration) {
	if p.N == 0 {
		return 0, 0
	}
	return p.QuiesceTotal / time.Duration(p.N), p.PauseTotal / time.Duration(p.N)
}

// payloadLoaded is a parsed payload, its runtime metadata and where its
// code goes.
type payloadLoaded struct {
	p        *pf.Payload
	id       []byte // pf.ID of the payload
	funcs    []*gofunc.Func
	textAddr uint64 // arena address (or a host buffer's, without Code)
	buf      []byte // host builds: the buffer textAddr points into

	// Set by Apply (engine goroutine; the Manager runs one action at a
	// time).
	prepared   bool
	registered bool
	sites      []site
	released   bool
	eng        *PayloadEngine
}

// site is one trampoline: the old function's entry and the bytes
// written there while the payload is applied.
type site struct {
	fn    string
	addr  uint64
	tramp []byte
}

func (l *payloadLoaded) Targets() []string {
	out := make([]string, len(l.p.Funcs))
	for i, f := range l.p.Funcs {
		out[i] = f.Name
	}
	return out
}

// Release frees the payload's arena space, or retires it if the code was
// ever registered with the runtime (a goroutine may still run it).
func (l *payloadLoaded) Release() {
	if l.released {
		return
	}
	l.released = true
	if e := l.eng; e != nil && e.arena != nil {
		if l.registered {
			e.arena.retire(uint64(len(l.p.Text)))
		} else {
			e.arena.release(l.textAddr, uint64(len(l.p.Text)))
		}
	}
	l.p, l.funcs, l.buf, l.sites = nil, nil, nil, nil
}

func (e *PayloadEngine) init() {
	e.once.Do(func() {
		e.orig = map[uint64][]byte{}
		if e.Code != nil {
			base, size := e.Code.Arena()
			e.arena = newArena(base, size)
			e.stats.ArenaSize = size
		}
	})
}

// Load implements Engine: the signature is verified before the ELF is
// parsed (pf.Open). A bad or missing signature or an unknown key is
// EPERM; a malformed payload or runtime metadata ENOEXEC; no arena space
// ENOMEM.
func (e *PayloadEngine) Load(raw []byte) (Loaded, error) {
	e.init()
	elf, err := pf.Verify(raw, e.Keys)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", EPERM, err)
	}
	p, err := pf.Parse(elf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ENOEXEC, err)
	}
	var funcs []*gofunc.Func
	if p.PCLN != nil {
		if funcs, err = gofunc.Decode(p.PCLN); err != nil {
			return nil, fmt.Errorf("%w: runtime metadata: %w", ENOEXEC, err)
		}
	}
	l := &payloadLoaded{p: p, funcs: funcs, eng: e, id: pf.ID(elf)}
	if e.arena != nil {
		if l.textAddr, err = e.arena.alloc(uint64(len(p.Text))); err != nil {
			return nil, fmt.Errorf("%w: %w", ENOMEM, err)
		}
	} else {
		l.buf, l.textAddr = alignedText(len(p.Text))
	}
	return l, nil
}

// ID implements Stacker.
func (l *payloadLoaded) ID() []byte { return l.id }

// Depends implements Stacker.
func (l *payloadLoaded) Depends() []byte { return l.p.Depends }

// Check implements Engine. Refusals map to errnos as Xen's livepatch
// does where it has one: another build-id or architecture ENOEXEC, an
// unknown symbol ENOENT, a function already patched EEXIST, everything
// else (sizes, ranges, relocations, runtime metadata) EINVAL.
func (e *PayloadEngine) Check(l Loaded, applied []Loaded) error {
	pl := l.(*payloadLoaded)
	if e.Image == nil {
		return fmt.Errorf("%w: the running image has no symbol table: %v", ENOSYS, e.ImageErr)
	}
	busy := map[string]bool{}
	for _, a := range applied {
		for _, t := range a.Targets() {
			busy[t] = true
		}
	}
	err := pl.p.Check(e.Image, pl.textAddr, func(fn string) bool { return busy[fn] })
	switch {
	case err == nil:
	case errors.Is(err, pf.ErrBuildID), errors.Is(err, pf.ErrArch):
		return fmt.Errorf("%w: %w", ENOEXEC, err)
	case errors.Is(err, pf.ErrUnknownSymbol):
		return fmt.Errorf("%w: %w", ENOENT, err)
	case errors.Is(err, pf.ErrBusy):
		return fmt.Errorf("%w: %w", EEXIST, err)
	default:
		return fmt.Errorf("%w: %w", EINVAL, err)
	}
	if _, err := pl.tables(); err != nil {
		return fmt.Errorf("%w: %w", EINVAL, err)
	}
	return nil
}

// errRuntimeMeta refuses a payload whose metadata does not describe its
// code: the runtime would misread the stacks of goroutines running it.
var errRuntimeMeta = errors.New("hotpatch: runtime metadata does not match the payload code")

// tables checks the payload's runtime metadata against its functions and
// lays it out for the runtime: one gofunc.Func per replaced function, in
// order, of the same size as its new code (docs/hotpatch.md, "Go runtime
// safety").
func (l *payloadLoaded) tables() (*gofunc.Tables, error) {
	p := l.p
	if len(l.funcs) != len(p.Funcs) {
		return nil, fmt.Errorf("%w: %d functions described, %d replaced (a payload without .tvpatch.pcln cannot be applied)", errRuntimeMeta, len(l.funcs), len(p.Funcs))
	}
	minLC := uint8(gofunc.MinLCAMD64)
	if p.Arch == pf.ArchARM64 {
		minLC = gofunc.MinLCARM64
	}
	offsets := make([]uint32, len(p.Funcs))
	for i, f := range p.Funcs {
		g := l.funcs[i]
		if g.MinLC != minLC {
			return nil, fmt.Errorf("%w: function %q: PC quantum %d, %v code has %d", errRuntimeMeta, g.Name, g.MinLC, p.Arch, minLC)
		}
		if g.Name != f.Name || g.Size != f.Size {
			return nil, fmt.Errorf("%w: function %d is %q (%d bytes) in the metadata, %q (%d bytes) in the code", errRuntimeMeta, i, g.Name, g.Size, f.Name, f.Size)
		}
		offsets[i] = f.Offset
	}
	t, err := gofunc.Build(l.funcs, offsets, uint32(len(p.Text)))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errRuntimeMeta, err)
	}
	return t, nil
}

// errNoApply is what Apply and Revert return on a build without code
// memory.
var errNoApply = fmt.Errorf("%w: this build cannot change code (no code memory)", ENOSYS)

// prepare links the payload's code at its arena address, writes it,
// registers it with the runtime and computes its trampolines, once. None
// of it is reachable before a trampoline is written, so the world runs.
func (e *PayloadEngine) prepare(pl *payloadLoaded) error {
	if pl.prepared {
		return nil
	}
	p := pl.p
	if !pl.registered {
		text, err := p.Link(e.Image, pl.textAddr)
		if err != nil {
			return fmt.Errorf("%w: %w", EINVAL, err)
		}
		t, err := pl.tables()
		if err != nil {
			return fmt.Errorf("%w: %w", EINVAL, err)
		}
		if err := e.Code.WriteCode(pl.textAddr, text); err != nil {
			return fmt.Errorf("%w: writing the payload code: %w", EIO, err)
		}
		if e.Runtime == nil {
			return fmt.Errorf("%w: no runtime registration on this build", ENOSYS)
		}
		if err := e.Runtime(p.Name, t, pl.textAddr, uint64(len(p.Text))); err != nil {
			return fmt.Errorf("%w: registering the payload code with the Go runtime: %w", EINVAL, err)
		}
		pl.registered = true
		e.mu.Lock()
		e.stats.Modules++
		e.mu.Unlock()
	}
	sites := make([]site, len(p.Funcs))
	for i, f := range p.Funcs {
		addr, _, ok := e.Image.Symbol(f.Name)
		if !ok {
			return fmt.Errorf("%w: function %q", ENOENT, f.Name)
		}
		tr, err := pf.Trampoline(p.Arch, addr, pl.textAddr+uint64(f.Offset))
		if err != nil {
			return fmt.Errorf("%w: %w", EINVAL, err)
		}
		sites[i] = site{fn: f.Name, addr: addr, tramp: tr}
	}
	pl.sites = sites
	pl.prepared = true
	return nil
}

// write is one code write of a switch, with what it replaces.
type write struct {
	addr      uint64
	new, prev []byte
}

// Apply implements Engine.
func (e *PayloadEngine) Apply(l Loaded, revertFirst []Loaded, timeout time.Duration) error {
	e.init()
	pl := l.(*payloadLoaded)
	if e.Code == nil || e.Image == nil {
		return errNoApply
	}
	if err := e.prepare(pl); err != nil {
		return err
	}
	var ws []write
	for _, r := range revertFirst {
		rl := r.(*payloadLoaded)
		for _, s := range rl.sites {
			ws = append(ws, write{addr: s.addr, new: nil, prev: s.tramp})
		}
	}
	for _, s := range pl.sites {
		ws = append(ws, write{addr: s.addr, new: s.tramp})
	}
	kind := &e.stats.Apply
	if len(revertFirst) > 0 {
		kind = &e.stats.Replace
	}
	if err := e.switchCode(ws, timeout, kind); err != nil {
		return err
	}
	e.mu.Lock()
	e.stats.Applies++
	e.mu.Unlock()
	return nil
}

// Revert implements Engine.
func (e *PayloadEngine) Revert(l Loaded, timeout time.Duration) error {
	e.init()
	pl := l.(*payloadLoaded)
	if e.Code == nil || !pl.prepared {
		return errNoApply
	}
	var ws []write
	for _, s := range pl.sites {
		ws = append(ws, write{addr: s.addr, new: nil, prev: s.tramp})
	}
	if err := e.switchCode(ws, timeout, &e.stats.Revert); err != nil {
		return err
	}
	e.mu.Lock()
	e.stats.Reverts++
	e.mu.Unlock()
	return nil
}

// switchCode stops the world and does ws in order, all or nothing. A
// write with new == nil puts the function's original bytes back (prev is
// the trampoline expected there); otherwise prev is filled in with the
// original bytes, which must be there. Nothing in the stopped world
// allocates or blocks: every buffer is made before Quiesce. A switch that
// succeeds is counted in kind (a field of e.stats).
func (e *PayloadEngine) switchCode(ws []write, timeout time.Duration, kind *PauseStats) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Quiesce == nil {
		return fmt.Errorf("%w: no way to stop the world on this build", ENOSYS)
	}
	now := e.Now
	if now == nil {
		now = time.Now
	}
	// Original bytes: read while nothing of ours is there (the Manager
	// never lets two applied payloads touch one function, and a REPLACE
	// reverts first), and kept for every later revert.
	for i := range ws {
		w := &ws[i]
		if w.new == nil {
			o, ok := e.orig[w.addr]
			if !ok {
				return fmt.Errorf("%w: no original bytes recorded at %#x", EINVAL, w.addr)
			}
			w.new = o
			continue
		}
		if _, ok := e.orig[w.addr]; !ok {
			o := make([]byte, len(w.new))
			if err := e.Code.ReadCode(w.addr, o); err != nil {
				return fmt.Errorf("%w: %w", EIO, err)
			}
			e.orig[w.addr] = o
		}
		w.prev = e.orig[w.addr]
	}
	// Each site must hold what the engine last put there; a site written
	// twice in one switch (REPLACE reverting and applying one function)
	// is checked against the first write. Only this engine writes code,
	// under e.mu, so what is checked here still holds in the stopped
	// world.
	cur := make([]byte, 32)
	planned := make(map[uint64][]byte, len(ws))
	for _, w := range ws {
		exp, ok := planned[w.addr]
		if !ok {
			exp = make([]byte, len(w.prev))
			if err := e.Code.ReadCode(w.addr, exp); err != nil {
				return fmt.Errorf("%w: %w", EIO, err)
			}
		}
		if !bytes.Equal(exp, w.prev) {
			return fmt.Errorf("%w: code at %#x is % x, expected % x: changed behind the engine's back", EIO, w.addr, exp, w.prev)
		}
		planned[w.addr] = w.new
	}
	resume, wait, err := e.Quiesce(timeout)
	if err != nil {
		e.stats.Busy++
		return fmt.Errorf("%w: %w", EBUSY, err)
	}
	t0 := now()
	err = e.writeAllLocked(ws, cur)
	pause := now().Sub(t0)
	resume()
	e.stats.LastQuiesce, e.stats.LastPause = wait, pause
	if pause > e.stats.MaxPause {
		e.stats.MaxPause = pause
	}
	if err == nil {
		kind.add(wait, pause)
	}
	return err
}

// writeAllLocked writes every site and reads it back; on any failure it
// restores the sites already written, newest first.
func (e *PayloadEngine) writeAllLocked(ws []write, cur []byte) error {
	for i, w := range ws {
		err := e.Code.WriteCode(w.addr, w.new)
		if err == nil {
			c := cur[:len(w.new)]
			if err = e.Code.ReadCode(w.addr, c); err == nil && !bytes.Equal(c, w.new) {
				err = fmt.Errorf("read back % x, wrote % x", c, w.new)
			}
		}
		if err != nil {
			for j := i; j >= 0; j-- {
				// Best effort: the first failure is what is reported.
				_ = e.Code.WriteCode(ws[j].addr, ws[j].prev)
			}
			return fmt.Errorf("%w: writing %#x: %w", EIO, w.addr, err)
		}
	}
	return nil
}

// SetQuiesce replaces Quiesce while the engine may be in use: a board
// applies its boot payloads before any VM runs, with a Quiesce that has
// nothing to stop, and hands over the VM manager's once VMs start.
func (e *PayloadEngine) SetQuiesce(q func(timeout time.Duration) (resume func(), wait time.Duration, err error)) {
	e.mu.Lock()
	e.Quiesce = q
	e.mu.Unlock()
}

// Stats returns the engine's counters.
func (e *PayloadEngine) Stats() EngineStats {
	e.init()
	e.mu.Lock()
	s := e.stats
	e.mu.Unlock()
	if e.arena != nil {
		s.ArenaFree, s.ArenaRetired = e.arena.usage()
	}
	return s
}

// alignedText returns a buffer of n bytes at a pf.TextAlign-aligned
// address, and that address (host builds: CHECK's range checks need an
// address, and nothing runs there).
func alignedText(n int) ([]byte, uint64) {
	raw := make([]byte, n+pf.TextAlign)
	off := alignOffset(raw, pf.TextAlign)
	return raw[off : off+n], addrOf(raw[off:])
}
