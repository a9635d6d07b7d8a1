// soc/fdt: a minimal, bounds-checked flattened device tree reader.
// SPDX-License-Identifier: BSD-3-Clause

package fdt

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// builder assembles a blob (Devicetree Spec 5.2-5.5) for tests.
type builder struct {
	st, strs []byte
}

func (b *builder) u32(v uint32) { b.st = binary.BigEndian.AppendUint32(b.st, v) }
func (b *builder) begin(name string) {
	b.u32(FDT_BEGIN_NODE)
	b.st = append(b.st, name...)
	b.st = append(b.st, 0)
	for len(b.st)%4 != 0 {
		b.st = append(b.st, 0)
	}
}
func (b *builder) end() { b.u32(FDT_END_NODE) }
func (b *builder) prop(name string, val []byte) {
	b.u32(FDT_PROP)
	b.u32(uint32(len(val)))
	b.u32(uint32(len(b.strs)))
	b.strs = append(append(b.strs, name...), 0)
	b.st = append(b.st, val...)
	for len(b.st)%4 != 0 {
		b.st = append(b.st, 0)
	}
}
func (b *builder) blob() []byte {
	b.u32(FDT_END)
	hdr := make([]byte, headerSize)
	offStruct := uint32(headerSize + 16) // + empty reserve map
	offStrings := offStruct + uint32(len(b.st))
	total := offStrings + uint32(len(b.strs))
	for i, v := range []uint32{FDT_MAGIC, total, offStruct, offStrings, headerSize, 17, 16, 0, uint32(len(b.strs)), uint32(len(b.st))} {
		binary.BigEndian.PutUint32(hdr[4*i:], v)
	}
	out := append(hdr, make([]byte, 16)...)
	return append(append(out, b.st...), b.strs...)
}

func be(vals ...uint32) []byte {
	var out []byte
	for _, v := range vals {
		out = binary.BigEndian.AppendUint32(out, v)
	}
	return out
}

func qemuLike() []byte {
	var b builder
	b.begin("")
	b.prop("#address-cells", be(2))
	b.prop("#size-cells", be(2))
	b.begin("memory@40000000")
	b.prop("device_type", []byte("memory\x00"))
	b.prop("reg", be(0, 0x4000_0000, 0, 0x4000_0000))
	b.end()
	b.begin("chosen")
	b.prop("reg", be(1, 2, 3, 4)) // not a memory node: ignored
	b.end()
	b.end()
	return b.blob()
}

func TestMemory(t *testing.T) {
	rs, err := Memory(qemuLike())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0] != (Range{0x4000_0000, 0x4000_0000}) {
		t.Fatalf("got %+v", rs)
	}
}

func TestMemoryErrors(t *testing.T) {
	good := qemuLike()
	cases := map[string]func([]byte) []byte{
		"magic":     func(b []byte) []byte { b[0] = 0; return b },
		"totalsize": func(b []byte) []byte { binary.BigEndian.PutUint32(b[4:], uint32(len(b)+1)); return b },
		"version":   func(b []byte) []byte { binary.BigEndian.PutUint32(b[20:], 16); return b },
		"struct":    func(b []byte) []byte { binary.BigEndian.PutUint32(b[36:], 1<<30); return b },
		"truncated": func(b []byte) []byte { binary.BigEndian.PutUint32(b[36:], 8); return b },
	}
	for name, mangle := range cases {
		b := mangle(append([]byte(nil), good...))
		if _, err := Memory(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestQEMUVirtDTB checks the parser against the device tree QEMU itself
// generates for the board (skipped when QEMU is not installed).
func TestQEMUVirtDTB(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-aarch64")
	if err != nil {
		t.Skip("SKIP: qemu-system-aarch64 not installed")
	}
	dtb := filepath.Join(t.TempDir(), "virt.dtb")
	out, err := exec.Command(qemu, "-M", "virt,gic-version=3,virtualization=on,dumpdtb="+dtb, "-cpu", "max", "-m", "1536", "-nographic").CombinedOutput()
	if err != nil {
		t.Fatalf("dumpdtb: %v\n%s", err, out)
	}
	b, err := os.ReadFile(dtb)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Memory(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0] != (Range{0x4000_0000, 1536 << 20}) {
		t.Fatalf("got %+v", rs)
	}
}

// FuzzMemory guards Devicetree Spec 5.2-5.4: any bytes parse or fail with
// ErrFormat, never panic, and ranges never wrap.
func FuzzMemory(f *testing.F) {
	f.Add(qemuLike())
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := Memory(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not wrapping ErrFormat: %v", err)
			}
			return
		}
		for _, r := range rs {
			if r.Addr+r.Size < r.Addr {
				t.Fatalf("wrapping range %+v", r)
			}
		}
	})
}
