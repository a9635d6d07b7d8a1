// cmd/tamavisor: the tamavisor hypervisor program.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

func TestModulePayloads(t *testing.T) {
	mem := map[hv.PA][]byte{
		0x100000: []byte("payload one"),
		0x200000: []byte("payload two"),
		0x300000: []byte(`{"vms":[]}`),
	}
	view := func(m hv.BootModule) []byte {
		b := mem[m.Base]
		if uint64(len(b)) < m.Size {
			return nil
		}
		return b[:m.Size]
	}
	mods := []hv.BootModule{
		{Name: "hotpatch/fix-1", Base: 0x100000, Size: 11},
		{Name: "manifest", Base: 0x300000, Size: 10},
		{Name: "hotpatch/fix-2", Base: 0x200000, Size: 11},
		{Name: "hotpatch/huge", Base: 0x400000, Size: maxModulePayload + 1},
		{Name: "hotpatch/gone", Base: 0x500000, Size: 16},
		{Name: "hotpatchx", Base: 0x100000, Size: 11},
	}
	ps := modulePayloads(mods, view)
	if len(ps) != 4 {
		t.Fatalf("%d payloads, want 4: %+v", len(ps), ps)
	}
	for i, want := range []struct{ name, raw, err string }{
		{"fix-1", "payload one", ""},
		{"fix-2", "payload two", ""},
		{"huge", "", "at most"},
		{"gone", "", "not readable"},
	} {
		p := ps[i]
		if p.name != want.name || !bytes.Equal(p.raw, []byte(want.raw)) {
			t.Errorf("payload %d: %q %q, want %q %q", i, p.name, p.raw, want.name, want.raw)
		}
		if (want.err == "") != (p.err == nil) || p.err != nil && !strings.Contains(p.err.Error(), want.err) {
			t.Errorf("payload %d (%s): err %v, want %q", i, p.name, p.err, want.err)
		}
	}
	// The payload is a copy: the module memory may be reused.
	mem[0x100000][0] = 'X'
	if ps[0].raw[0] != 'p' {
		t.Errorf("payload aliases the module memory")
	}
}
