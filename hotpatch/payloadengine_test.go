// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"crypto/ed25519"
	"testing"

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

// signedPayload builds a payload replacing fn (old size oldSize) with a
// 16-byte function that calls hv.helper, signed with key.
func signedPayload(t *testing.T, key ed25519.PrivateKey, id []byte, fn string, oldSize uint64) []byte {
	t.Helper()
	text := []byte{0xe8, 0, 0, 0, 0, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc} // CALL rel32; RET
	p := &pf.Payload{Name: "fix", Arch: pf.ArchAMD64, BuildID: id, Text: text,
		Funcs:  []pf.Func{{Name: fn, Offset: 0, Size: uint32(len(text)), OldSize: oldSize}},
		Relocs: []pf.Reloc{{Offset: 1, Kind: pf.R_X86_64_PC32, Symbol: "hv.helper", Addend: -4}}}
	elf, err := pf.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return pf.Sign(elf, key)
}

func TestPayloadEngine(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	img := &fakeImage{id: imageID}
	e := &PayloadEngine{Keys: []ed25519.PublicKey{pub}, Image: img}
	m := NewManager(e)

	// Refused at upload: nothing stored.
	for _, c := range []struct {
		name string
		raw  []byte
		want Errno
	}{
		{"unsigned", []byte("\x7fELF garbage"), EPERM},
		{"other key", signedPayload(t, otherKey, imageID, "hv.buggy", 0x40), EPERM},
		{"flipped", func() []byte { b := signedPayload(t, key, imageID, "hv.buggy", 0x40); b[70] ^= 1; return b }(), EPERM},
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
		{"other-build", signedPayload(t, key, []byte("another image's id!!"), "hv.buggy", 0x40), ENOEXEC},
		{"unknown", signedPayload(t, key, imageID, "hv.nosuch", 0x40), ENOENT},
		{"too-small", signedPayload(t, key, imageID, "hv.tiny", 4), EINVAL},
		{"size-mismatch", signedPayload(t, key, imageID, "hv.buggy", 0x80), EINVAL},
	}
	for _, c := range checks {
		if err := m.Upload(c.name, c.raw); err != nil {
			t.Fatalf("%s: upload: %v", c.name, err)
		}
		placeImage(t, m, img, c.name)
		st := act(t, m, c.name, ActionCheck)
		if st.State != StateLoaded || st.RC != c.want {
			t.Errorf("%s: after CHECK %s rc %s (%s), want LOADED %s", c.name, st.State, st.RC, st.Error, c.want)
		}
	}

	// A good payload checks; APPLY is not implemented yet: ENOSYS, still
	// CHECKED.
	if err := m.Upload("good", signedPayload(t, key, imageID, "hv.buggy", 0x40)); err != nil {
		t.Fatal(err)
	}
	placeImage(t, m, img, "good")
	if st := act(t, m, "good", ActionCheck); st.State != StateChecked || st.RC != 0 {
		t.Fatalf("good payload: %s rc %s (%s)", st.State, st.RC, st.Error)
	}
	if st := act(t, m, "good", ActionApply); st.State != StateChecked || st.RC != ENOSYS {
		t.Errorf("APPLY: %s rc %s, want CHECKED ENOSYS (not implemented)", st.State, st.RC)
	}

	// Without a symbol table CHECK says why.
	e.Image, e.ImageErr = nil, errTestNoTable
	if st := act(t, m, "good", ActionCheck); st.RC != ENOSYS {
		t.Errorf("no image: rc %s", st.RC)
	}
	if err := m.Action("good", ActionUnload, 0); err != nil {
		t.Errorf("unload: %v", err)
	}
}

var errTestNoTable = &Error{Errno: ENOSYS, Msg: "not post-linked"}

// placeImage puts the fake image's functions 1 MiB above where the
// payload's text would run, within a JMP rel32's reach.
func placeImage(t *testing.T, m *Manager, img *fakeImage, name string) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.findLocked(name)
	if err != nil {
		t.Fatal(err)
	}
	img.base = p.loaded.(*payloadLoaded).textAddr + 1<<20
}
