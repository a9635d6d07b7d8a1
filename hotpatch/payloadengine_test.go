// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/hotpatch/gofunc"
	pf "github.com/tamavisor/tamavisor/hotpatch/payload"
)

// fakeImage is a running amd64 image with a few functions at base.
type fakeImage struct {
	base uint64
	id   []byte
}

func (i *fakeImage) Arch() pf.Arch   { return pf.ArchAMD64 }
func (i *fakeImage) BuildID() []byte { return i.id }
func (i *fakeImage) Symbol(n string) (uint64, uint64, bool) {
	switch n {
	case "hv.buggy":
		return i.base, 0x40, true
	case "hv.tiny":
		return i.base + 0x40, 4, true
	case "hv.helper":
		return i.base + 0x80, 0x20, true
	}
	return 0, 0, false
}

var imageID = []byte("0123456789abcdefghij")

// fakeCode is CodeMemory over two byte slices: the image text at
// imageBase and the arena at arenaBase. It counts writes and can be told
// to fail them.
type fakeCode struct {
	text, arena []byte
	writes      int
	failWrite   bool
}

const (
	arenaBase = 0x10_0000
	imageBase = 0x20_0000
)

func newFakeCode() *fakeCode {
	c := &fakeCode{text: make([]byte, 0x100), arena: make([]byte, 0x1000)}
	for i := range c.text {
		c.text[i] = byte(i)
	}
	return c
}

func (c *fakeCode) Arena() (uint64, uint64) { return arenaBase, uint64(len(c.arena)) }

func (c *fakeCode) mem(addr uint64, n int) ([]byte, error) {
	for _, r := range []struct {
		base uint64
		b    []byte
	}{{arenaBase, c.arena}, {imageBase, c.text}} {
		if addr >= r.base && addr+uint64(n) <= r.base+uint64(len(r.b)) {
			return r.b[addr-r.base : addr-r.base+uint64(n)], nil
		}
	}
	return nil, fmt.Errorf("fake code: [%#x, +%d) outside", addr, n)
}

func (c *fakeCode) WriteCode(addr uint64, b []byte) error {
	m, err := c.mem(addr, len(b))
	if err != nil {
		return err
	}
	if c.failWrite {
		return errors.New("fake code: write failed")
	}
	c.writes++
	copy(m, b)
	return nil
}

func (c *fakeCode) ReadCode(addr uint64, b []byte) error {
	m, err := c.mem(addr, len(b))
	if err != nil {
		return err
	}
	copy(b, m)
	return nil
}

// signedPayload builds a payload called name replacing fn (old size
// oldSize) with a 16-byte function that calls hv.helper, with its
// runtime metadata, signed with key.
func signedPayload(t *testing.T, key ed25519.PrivateKey, id []byte, name, fn string, oldSize uint64) []byte {
	t.Helper()
	signed, _ := stackedPayload(t, key, id, name, fn, oldSize, nil)
	return signed
}

// stackedPayload is signedPayload stacking on the payload whose id is
// depends (nil: none); it also returns the payload's own id.
func stackedPayload(t *testing.T, key ed25519.PrivateKey, id []byte, name, fn string, oldSize uint64, depends []byte) (signed, pid []byte) {
	t.Helper()
	text := []byte{0xe8, 0, 0, 0, 0, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc} // CALL rel32; RET
	meta, err := gofunc.Encode([]*gofunc.Func{{Name: fn, MinLC: gofunc.MinLCAMD64, Size: uint32(len(text))}})
	if err != nil {
		t.Fatal(err)
	}
	p := &pf.Payload{Name: name, Arch: pf.ArchAMD64, BuildID: id, Depends: depends, Text: text,
		Funcs:  []pf.Func{{Name: fn, Offset: 0, Size: uint32(len(text)), OldSize: oldSize}},
		Relocs: []pf.Reloc{{Offset: 1, Kind: pf.R_X86_64_PC32, Symbol: "hv.helper", Addend: -4}},
		PCLN:   meta}
	elf, err := pf.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return pf.Sign(elf, key), pf.ID(elf)
}

// testEngine is a PayloadEngine over fakeCode whose runtime registration
// and quiesce are recorded (and the quiesce can be made to fail).
type testEngine struct {
	*PayloadEngine
	code       *fakeCode
	registered []string
	quiesces   int
	busy       bool
}

func newTestEngine(pub ed25519.PublicKey) *testEngine {
	te := &testEngine{code: newFakeCode()}
	te.PayloadEngine = &PayloadEngine{
		Keys:  []ed25519.PublicKey{pub},
		Image: &fakeImage{base: imageBase, id: imageID},
		Code:  te.code,
		Runtime: func(name string, t *gofunc.Tables, text, size uint64) error {
			if len(t.Ftab) != 2 || uint64(t.Ftab[1].Entryoff) != size {
				return fmt.Errorf("tables %+v for %d bytes", t.Ftab, size)
			}
			te.registered = append(te.registered, name)
			return nil
		},
		Quiesce: func(time.Duration) (func(), time.Duration, error) {
			if te.busy {
				return nil, 0, errors.New("vCPUs did not stop")
			}
			te.quiesces++
			return func() {}, time.Microsecond, nil
		},
	}
	// A clock that advances 10 µs per reading: every pause is 10 µs.
	var clock time.Time
	te.Now = func() time.Time {
		clock = clock.Add(10 * time.Microsecond)
		return clock
	}
	return te
}

func TestPayloadEngine(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	e := newTestEngine(pub)
	m := NewManager(e)

	// Refused at upload: nothing stored.
	for _, c := range []struct {
		name string
		raw  []byte
		want Errno
	}{
		{"unsigned", []byte("\x7fELF garbage"), EPERM},
		{"other key", signedPayload(t, otherKey, imageID, "fix", "hv.buggy", 0x40), EPERM},
		{"flipped", func() []byte { b := signedPayload(t, key, imageID, "fix", "hv.buggy", 0x40); b[70] ^= 1; return b }(), EPERM},
	} {
		err := m.Upload(c.name, c.raw)
		isErrno(t, err, c.want)
	}
	if r, _ := m.List(0, 10); len(r.Entries) != 0 {
		t.Fatalf("refused uploads stored: %+v", r.Entries)
	}

	// Refused at CHECK, state stays LOADED with the errno as rc.
	checks := []struct {
		name string
		raw  []byte
		want Errno
	}{
		{"other-build", signedPayload(t, key, []byte("another image's id!!"), "p", "hv.buggy", 0x40), ENOEXEC},
		{"unknown", signedPayload(t, key, imageID, "p", "hv.nosuch", 0x40), ENOENT},
		{"too-small", signedPayload(t, key, imageID, "p", "hv.tiny", 4), EINVAL},
		{"size-mismatch", signedPayload(t, key, imageID, "p", "hv.buggy", 0x80), EINVAL},
	}
	for _, c := range checks {
		if err := m.Upload(c.name, c.raw); err != nil {
			t.Fatalf("%s: upload: %v", c.name, err)
		}
		st := act(t, m, c.name, ActionCheck)
		if st.State != StateLoaded || st.RC != c.want {
			t.Errorf("%s: after CHECK %s rc %s (%s), want LOADED %s", c.name, st.State, st.RC, st.Error, c.want)
		}
		if err := m.Action(c.name, ActionUnload, 0); err != nil {
			t.Errorf("unload %s: %v", c.name, err)
		}
	}

	orig := append([]byte(nil), e.code.text...)
	for _, n := range []string{"good", "good2"} {
		if err := m.Upload(n, signedPayload(t, key, imageID, n, "hv.buggy", 0x40)); err != nil {
			t.Fatal(err)
		}
		if st := act(t, m, n, ActionCheck); st.State != StateChecked || st.RC != 0 {
			t.Fatalf("%s: %s rc %s (%s)", n, st.State, st.RC, st.Error)
		}
	}
	textOf := func(n string) uint64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		p, err := m.findLocked(n)
		if err != nil {
			t.Fatal(err)
		}
		return p.loaded.(*payloadLoaded).textAddr
	}
	jmpTo := func(n string) []byte {
		tr, err := pf.Trampoline(pf.ArchAMD64, imageBase, textOf(n))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}

	// A quiesce that fails: EBUSY, nothing written, still CHECKED.
	e.busy = true
	if st := act(t, m, "good", ActionApply); st.State != StateChecked || st.RC != EBUSY {
		t.Errorf("APPLY without quiesce: %s rc %s", st.State, st.RC)
	}
	if !bytes.Equal(e.code.text, orig) {
		t.Error("image changed by a refused APPLY")
	}
	e.busy = false

	// APPLY: the linked code in the arena, registered once, and the JMP
	// at the old entry; the rest of the image untouched.
	if st := act(t, m, "good", ActionApply); st.State != StateApplied || st.RC != 0 {
		t.Fatalf("APPLY: %s rc %s (%s)", st.State, st.RC, st.Error)
	}
	want := append(jmpTo("good"), orig[5:]...)
	if !bytes.Equal(e.code.text, want) {
		t.Errorf("image after APPLY % x", e.code.text[:16])
	}
	a := textOf("good") - arenaBase
	if rel := int32(binary.LittleEndian.Uint32(e.code.arena[a+1:])); uint64(int64(textOf("good"))+5+int64(rel)) != imageBase+0x80 {
		t.Errorf("payload CALL not linked to hv.helper: rel %#x", rel)
	}
	// A second payload on the same function: EEXIST, nothing changes.
	if st := act(t, m, "good2", ActionApply); st.State != StateChecked || st.RC != EEXIST {
		t.Errorf("second payload on hv.buggy: %s rc %s", st.State, st.RC)
	}
	// REVERT puts the original bytes back; APPLY again reuses the
	// registration.
	if st := act(t, m, "good", ActionRevert); st.State != StateChecked || st.RC != 0 {
		t.Fatalf("REVERT: %s rc %s (%s)", st.State, st.RC, st.Error)
	}
	if !bytes.Equal(e.code.text, orig) {
		t.Errorf("image after REVERT % x", e.code.text[:16])
	}
	if st := act(t, m, "good", ActionApply); st.State != StateApplied {
		t.Fatalf("re-APPLY: %s rc %s (%s)", st.State, st.RC, st.Error)
	}
	// REPLACE: good reverted and good2 applied in one stop.
	q := e.quiesces
	if st := act(t, m, "good2", ActionReplace); st.State != StateApplied || st.RC != 0 {
		t.Fatalf("REPLACE: %s rc %s (%s)", st.State, st.RC, st.Error)
	}
	if e.quiesces != q+1 {
		t.Errorf("REPLACE stopped the world %d times", e.quiesces-q)
	}
	if !bytes.Equal(e.code.text, append(jmpTo("good2"), orig[5:]...)) {
		t.Errorf("image after REPLACE % x", e.code.text[:16])
	}
	// A write that fails leaves the image as it was: EIO.
	e.code.failWrite = true
	if st := act(t, m, "good2", ActionRevert); st.State != StateApplied || st.RC != EIO {
		t.Errorf("REVERT with failing writes: %s rc %s", st.State, st.RC)
	}
	e.code.failWrite = false
	if st := act(t, m, "good2", ActionRevert); st.State != StateChecked || !bytes.Equal(e.code.text, orig) {
		t.Errorf("REVERT: %s rc %s", st.State, st.RC)
	}
	if got := e.registered; len(got) != 2 || got[0] != "good" || got[1] != "good2" {
		t.Errorf("registered %v, want each payload once", got)
	}
	s := e.Stats()
	if s.Applies != 3 || s.Reverts != 2 || s.Busy != 1 || s.Modules != 2 || s.MaxPause != 10*time.Microsecond {
		t.Errorf("stats %+v", s)
	}
	// Per kind: two APPLYs, one REPLACE, two REVERTs; the failed REVERT
	// (EIO) and the refused stop (EBUSY) are not counted.
	for _, k := range []struct {
		name string
		p    PauseStats
		n    uint64
	}{{"apply", s.Apply, 2}, {"replace", s.Replace, 1}, {"revert", s.Revert, 2}} {
		q, p := k.p.Mean()
		if k.p.N != k.n || q != time.Microsecond || p != 10*time.Microsecond || k.p.PauseMax != p || k.p.QuiesceMax != q {
			t.Errorf("%s stats %+v, want %d stops of 1µs + 10µs", k.name, k.p, k.n)
		}
	}
	out := runPatchShell(t, m, "patch stats\r", "patch stats --json\r")
	for _, want := range []string{
		"applies 3 reverts 2 busy 1",
		"apply   n 2 quiesce mean 1µs max 1µs, pause mean 10µs max 10µs",
		"replace n 1 quiesce mean 1µs max 1µs, pause mean 10µs max 10µs",
		`"revert":{"max_pause_ns":10000,"max_quiesce_ns":1000,"mean_pause_ns":10000,"mean_quiesce_ns":1000,"n":2}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("patch stats lacks %q:\n%s", want, out)
		}
	}
	// Unloading retires the arena space of registered code.
	for _, n := range []string{"good", "good2"} {
		if err := m.Action(n, ActionUnload, 0); err != nil {
			t.Errorf("unload %s: %v", n, err)
		}
	}
	if s := e.Stats(); s.ArenaRetired != 32 || s.ArenaFree != s.ArenaSize-32 {
		t.Errorf("arena after unload: %+v", s)
	}

	// Without a symbol table CHECK says why.
	if err := m.Upload("late", signedPayload(t, key, imageID, "late", "hv.buggy", 0x40)); err != nil {
		t.Fatal(err)
	}
	e.Image, e.ImageErr = nil, errTestNoTable
	if st := act(t, m, "late", ActionCheck); st.RC != ENOSYS {
		t.Errorf("no image: rc %s", st.RC)
	}
}

var errTestNoTable = &Error{Errno: ENOSYS, Msg: "not post-linked"}

func TestArena(t *testing.T) {
	a := newArena(0x1008, 0x100) // first aligned byte 0x1010, end 0x1108
	x, err := a.alloc(1)
	if err != nil || x != 0x1010 {
		t.Fatalf("alloc(1) = %#x, %v", x, err)
	}
	y, _ := a.alloc(0x20)
	z, _ := a.alloc(0x10)
	if y != 0x1020 || z != 0x1040 {
		t.Errorf("allocs %#x %#x", y, z)
	}
	if _, err := a.alloc(0x100); !errors.Is(err, ErrArenaFull) {
		t.Errorf("oversized alloc: %v", err)
	}
	a.release(y, 0x20)
	a.release(x, 1)
	if w, _ := a.alloc(0x30); w != 0x1010 {
		t.Errorf("coalesced alloc at %#x", w)
	}
	a.retire(0x10)
	if free, retired := a.usage(); retired != 0x10 || free != 0x1108-0x1050 {
		t.Errorf("usage %#x %#x", free, retired)
	}
}

// TestPayloadEngineStacking: a payload that stacks on another (Depends =
// the other's id) applies only right on top of it, that one cannot be
// reverted from under it, and REPLACE, which reverts everything, refuses
// it; a refusal changes nothing (docs/hotpatch.md, "Stacking").
func TestPayloadEngineStacking(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	e := newTestEngine(pub)
	m := NewManager(e)
	base, baseID := stackedPayload(t, key, imageID, "base", "hv.buggy", 0x40, nil)
	top, topID := stackedPayload(t, key, imageID, "top", "hv.helper", 0x20, baseID)
	stray, _ := stackedPayload(t, key, imageID, "stray", "hv.helper", 0x20, []byte("not-a-payload-id-xyz"))
	for _, c := range []struct {
		name string
		raw  []byte
	}{{"base", base}, {"top", top}, {"stray", stray}} {
		if err := m.Upload(c.name, c.raw); err != nil {
			t.Fatal(err)
		}
		if st := act(t, m, c.name, ActionCheck); st.State != StateChecked || st.RC != 0 {
			t.Fatalf("check %s: %s rc %s", c.name, st.State, st.RC)
		}
	}
	if l := m.byName["top"].loaded.(*payloadLoaded); !bytes.Equal(l.ID(), topID) || !bytes.Equal(l.Depends(), baseID) {
		t.Fatalf("top: id %x depends %x, want %x and %x", l.ID(), l.Depends(), topID, baseID)
	}
	refused := func(name string, a ActionKind, want Errno, msg string) {
		t.Helper()
		err := m.Action(name, a, 0)
		isErrno(t, err, want)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s %s: %v, want %q", a, name, err, msg)
		}
		if st := get(t, m, name); st.State != StateChecked && st.State != StateApplied {
			t.Errorf("%s %s changed the state to %s", a, name, st.State)
		}
	}
	refused("top", ActionApply, EINVAL, "no payload is applied")
	if st := act(t, m, "base", ActionApply); st.State != StateApplied {
		t.Fatalf("apply base: %s rc %s", st.State, st.RC)
	}
	refused("stray", ActionApply, EINVAL, `the newest applied payload is "base"`)
	refused("stray", ActionReplace, EINVAL, "which REPLACE would revert")
	if st := act(t, m, "top", ActionApply); st.State != StateApplied || st.RC != 0 {
		t.Fatalf("apply top on base: %s rc %s", st.State, st.RC)
	}
	refused("base", ActionRevert, EBUSY, `applied payload "top" stacks on it`)
	if st := get(t, m, "base"); st.State != StateApplied {
		t.Errorf("base after the refused revert: %s", st.State)
	}
	for _, n := range []string{"top", "base"} {
		if st := act(t, m, n, ActionRevert); st.State != StateChecked || st.RC != 0 {
			t.Errorf("revert %s: %s rc %s", n, st.State, st.RC)
		}
	}
	if !bytes.Equal(e.code.text, newFakeCode().text) {
		t.Error("image not restored after reverting the stack")
	}
}
