// soc/fdt: a minimal, bounds-checked flattened device tree reader.
// SPDX-License-Identifier: BSD-3-Clause

package fdt

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// richTree has reservations, nested nodes, every property kind and NOPs.
func richTree() []byte {
	var b builder
	b.begin("")
	b.prop("#address-cells", be(2))
	b.prop("#size-cells", be(2))
	b.prop("compatible", []byte("vendor,board\x00linux,dummy-virt\x00"))
	b.u32(FDT_NOP)
	b.begin("memory@40000000")
	b.prop("device_type", []byte("memory\x00"))
	b.prop("reg", be(0, 0x4000_0000, 0, 0x1000_0000))
	b.end()
	b.begin("soc")
	b.prop("#address-cells", be(1))
	b.prop("#size-cells", be(1))
	b.begin("serial@9000000")
	b.prop("reg", be(0x0900_0000, 0x1000))
	b.prop("interrupts", be(0, 1, 4))
	b.prop("status", []byte("okay\x00"))
	b.end()
	b.begin("serial@9001000")
	b.prop("reg", be(0x0900_1000, 0x1000))
	b.end()
	b.end()
	b.begin("chosen")
	b.prop("linux,initrd-start", be(0, 0x4800_0000))
	b.prop("interrupt-controller", nil)
	b.end()
	b.end()
	return b.blob()
}

// withReservations rewrites blob with a memory reservation block.
func withReservations(blob []byte, rs ...Range) []byte {
	be := binary.BigEndian
	offStruct := be.Uint32(blob[8:])
	rsv := make([]byte, 0, 16*(len(rs)+1))
	for _, r := range rs {
		rsv = be.AppendUint64(rsv, r.Addr)
		rsv = be.AppendUint64(rsv, r.Size)
	}
	rsv = append(rsv, make([]byte, 16)...)
	out := append([]byte(nil), blob[:headerSize]...)
	out = append(out, rsv...)
	out = append(out, blob[offStruct:]...)
	shift := uint32(len(rsv) - 16)
	be.PutUint32(out[4:], be.Uint32(out[4:])+shift)
	be.PutUint32(out[8:], be.Uint32(out[8:])+shift)
	be.PutUint32(out[12:], be.Uint32(out[12:])+shift)
	return out
}

func TestParse(t *testing.T) {
	blob, err := ParseBlob(withReservations(richTree(), Range{0x4000_0000, 0x1000}))
	if err != nil {
		t.Fatal(err)
	}
	if blob.Version != 17 || blob.LastCompVersion != 16 || len(blob.Reservations) != 1 ||
		blob.Reservations[0] != (Range{0x4000_0000, 0x1000}) {
		t.Fatalf("blob %+v", blob)
	}
	root := blob.Root
	if root.Name != "" || root.Path() != "/" || len(root.Children) != 3 {
		t.Fatalf("root %q %q %d children", root.Name, root.Path(), len(root.Children))
	}
	if c, err := root.Strings("compatible"); err != nil || !slices.Equal(c, []string{"vendor,board", "linux,dummy-virt"}) {
		t.Fatalf("compatible %q %v", c, err)
	}

	s0 := root.Find("/soc/serial@9000000")
	if s0 == nil || s0.Path() != "/soc/serial@9000000" || s0.Parent != root.Find("soc") {
		t.Fatal("Find /soc/serial@9000000")
	}
	if root.Find("/soc/serial") != s0 || s0.Find("/soc//serial@9000000/") != s0 || root.Find("soc/serial@9001000") == nil {
		t.Fatal("Find without unit address, absolute from a child, relative")
	}
	if root.Find("/soc/uart") != nil || root.Find("/nope/serial") != nil || root.Find("/soc/serial@9000000/x") != nil {
		t.Fatal("Find of missing nodes")
	}
	if root.Find("/") != root || root.Find("") != root {
		t.Fatal("Find root")
	}
	if r, err := s0.Reg(); err != nil || len(r) != 1 || r[0] != (Range{0x0900_0000, 0x1000}) {
		t.Fatalf("1/1-cell reg %+v %v", r, err)
	}
	if v, err := s0.U32s("interrupts"); err != nil || !slices.Equal(v, []uint32{0, 1, 4}) {
		t.Fatalf("interrupts %v %v", v, err)
	}
	if s, err := s0.String("status"); err != nil || s != "okay" {
		t.Fatalf("status %q %v", s, err)
	}
	chosen := root.Find("/chosen")
	if v, err := chosen.U64("linux,initrd-start"); err != nil || v != 0x4800_0000 {
		t.Fatalf("initrd-start %#x %v", v, err)
	}
	if !chosen.Has("interrupt-controller") || chosen.Has("nope") {
		t.Fatal("Has")
	}
	if v, ok := chosen.Prop("interrupt-controller"); !ok || len(v) != 0 {
		t.Fatal("empty property")
	}

	var paths []string
	root.Walk(func(n *Node) error { paths = append(paths, n.Path()); return nil })
	want := []string{"/", "/memory@40000000", "/soc", "/soc/serial@9000000", "/soc/serial@9001000", "/chosen"}
	if !slices.Equal(paths, want) {
		t.Fatalf("walk %q", paths)
	}
	stop := errors.New("stop")
	if err := root.Walk(func(n *Node) error {
		if n.Name == "soc" {
			return stop
		}
		return nil
	}); err != stop {
		t.Fatalf("walk error %v", err)
	}
}

func TestAccessorErrors(t *testing.T) {
	root, err := Parse(richTree())
	if err != nil {
		t.Fatal(err)
	}
	s0 := root.Find("/soc/serial@9000000")
	chosen := root.Find("/chosen")
	for name, err := range map[string]error{
		"missing u32s":   func() error { _, err := s0.U32s("nope"); return err }(),
		"missing string": func() error { _, err := s0.String("nope"); return err }(),
	} {
		if !errors.Is(err, ErrNoProperty) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, err := range map[string]error{
		"u32 of 3 cells":   func() error { _, err := s0.U32("interrupts"); return err }(),
		"u64 of 3 cells":   func() error { _, err := s0.U64("interrupts"); return err }(),
		"u32s of string":   func() error { _, err := s0.U32s("status"); return err }(),
		"string of cells":  func() error { _, err := s0.String("interrupts"); return err }(),
		"string of list":   func() error { _, err := root.String("compatible"); return err }(),
		"string of empty":  func() error { _, err := chosen.String("interrupt-controller"); return err }(),
		"strings of cells": func() error { _, err := s0.Strings("interrupts"); return err }(),
		"reg of the root":  func() error { _, err := root.Reg(); return err }(),
		"reg with no reg":  func() error { _, err := chosen.Reg(); return err }(),
		"reg of bad length": func() error {
			_, err := (&Node{Parent: root, Props: []Property{{"reg", be(1, 2, 3)}}}).Reg()
			return err
		}(),
		"reg with 3 a-cells": func() error { _, err := (&Node{Parent: s0, Props: []Property{{"reg", be(1)}}}).Reg(); return err }(),
	} {
		if err == nil || errors.Is(err, ErrNoProperty) && name != "reg with no reg" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// #address-cells 3 (as on a PCI bus) is refused by Reg.
	pci := &Node{Props: []Property{{"#address-cells", be(3)}}}
	if _, err := (&Node{Parent: pci, Props: []Property{{"reg", be(1, 2, 3, 4)}}}).Reg(); !errors.Is(err, ErrFormat) {
		t.Errorf("3 address cells: %v", err)
	}
}

// TestParseCopies: the tree does not alias the caller's buffer.
func TestParseCopies(t *testing.T) {
	b := richTree()
	root, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xff
	}
	if s, err := root.Find("/soc/serial@9000000").String("status"); err != nil || s != "okay" {
		t.Fatalf("status after overwrite %q %v", s, err)
	}
}

func TestParseErrors(t *testing.T) {
	be32 := binary.BigEndian.PutUint32
	tree := func(build func(b *builder)) func([]byte) []byte {
		return func([]byte) []byte {
			var b builder
			build(&b)
			return b.blob()
		}
	}
	deep := func(n int) func(b *builder) {
		return func(b *builder) {
			b.begin("")
			for i := 0; i < n; i++ {
				b.begin("n")
			}
			for i := 0; i <= n; i++ {
				b.end()
			}
		}
	}
	wide := func(n int) func(b *builder) {
		return func(b *builder) {
			b.begin("")
			for i := 0; i < n; i++ {
				b.begin("n@" + strconv.Itoa(i))
				b.end()
			}
			b.end()
		}
	}
	cases := map[string]func([]byte) []byte{
		"short":            func(b []byte) []byte { return b[:39] },
		"last comp":        func(b []byte) []byte { be32(b[24:], 18); return b },
		"struct in header": func(b []byte) []byte { be32(b[8:], 36); return b },
		"struct unaligned": func(b []byte) []byte { be32(b[8:], 58); return b },
		"strings past end": func(b []byte) []byte { be32(b[32:], 1<<20); return b },
		"strings in hdr":   func(b []byte) []byte { be32(b[12:], 0); return b },
		"rsv unaligned":    func(b []byte) []byte { be32(b[16:], 44); return b },
		"rsv in header":    func(b []byte) []byte { be32(b[16:], 32); return b },
		"rsv past end":     func(b []byte) []byte { be32(b[16:], uint32(len(b))); return b },
		"rsv unterminated": func(b []byte) []byte {
			for i := 40; i < len(b); i++ {
				b[i] = 1
			}
			return b
		},
		"rsv wraps": func(b []byte) []byte {
			return withReservations(b, Range{1 << 63, 1 << 63})
		},
		"too large": func(b []byte) []byte {
			big := make([]byte, MaxSize+8)
			copy(big, b)
			be32(big[4:], MaxSize+8)
			return big
		},
		"root named":    tree(func(b *builder) { b.begin("root"); b.end() }),
		"no root":       tree(func(b *builder) {}),
		"second root":   tree(func(b *builder) { b.begin(""); b.end(); b.begin(""); b.end() }),
		"prop outside":  tree(func(b *builder) { b.prop("a", nil); b.begin(""); b.end() }),
		"prop after":    tree(func(b *builder) { b.begin(""); b.end(); b.prop("a", nil) }),
		"unbalanced":    tree(func(b *builder) { b.begin(""); b.end(); b.end() }),
		"end in node":   tree(func(b *builder) { b.begin(""); b.begin("a") }),
		"empty child":   tree(func(b *builder) { b.begin(""); b.begin(""); b.end(); b.end() }),
		"slash in name": tree(func(b *builder) { b.begin(""); b.begin("a/b"); b.end(); b.end() }),
		"long name":     tree(func(b *builder) { b.begin(""); b.begin(strings.Repeat("a", MaxNameLen+1)); b.end(); b.end() }),
		"dup prop":      tree(func(b *builder) { b.begin(""); b.prop("a", nil); b.prop("a", be(1)); b.end() }),
		"dup node": tree(func(b *builder) {
			b.begin("")
			b.begin("a")
			b.end()
			b.begin("a")
			b.end()
			b.end()
		}),
		"unknown token":  tree(func(b *builder) { b.begin(""); b.u32(7); b.end() }),
		"too deep":       tree(deep(maxDepth)),
		"too many nodes": tree(wide(MaxNodes)),
		"name offset": tree(func(b *builder) {
			b.begin("")
			b.u32(FDT_PROP)
			b.u32(0)
			b.u32(1000)
			b.end()
		}),
		"prop too long": tree(func(b *builder) {
			b.begin("")
			b.u32(FDT_PROP)
			b.u32(1 << 31)
			b.u32(0)
			b.end()
		}),
		"unterminated prop name": func([]byte) []byte {
			var b builder
			b.begin("")
			b.prop("a", nil)
			b.end()
			blob := b.blob()
			return blob[:len(blob)-1] // drop the NUL that ends the strings block
		},
	}
	for name, mangle := range cases {
		b := mangle(richTree())
		if name == "unterminated prop name" { // make the header agree
			be32(b[4:], uint32(len(b)))
			be32(b[32:], binary.BigEndian.Uint32(b[32:])-1)
		}
		_, err := Parse(b)
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if name != "short" && !strings.Contains(err.Error(), "offset 0x") && !strings.Contains(err.Error(), "bad magic") {
			t.Errorf("%s: error does not name an offset: %v", name, err)
		}
	}
	// Just inside the limits parses.
	var b builder
	deep(maxDepth - 1)(&b)
	if _, err := Parse(b.blob()); err != nil {
		t.Errorf("depth %d: %v", maxDepth, err)
	}
}

// TestQEMUVirtTree parses QEMU's own virt tree (skipped without QEMU).
func TestQEMUVirtTree(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-aarch64")
	if err != nil {
		t.Skip("SKIP: qemu-system-aarch64 not installed")
	}
	dtb := filepath.Join(t.TempDir(), "virt.dtb")
	out, err := exec.Command(qemu, "-M", "virt,gic-version=3,virtualization=on,dumpdtb="+dtb, "-cpu", "max", "-smp", "2", "-m", "1024", "-nographic").CombinedOutput()
	if err != nil {
		t.Fatalf("dumpdtb: %v\n%s", err, out)
	}
	b, err := os.ReadFile(dtb)
	if err != nil {
		t.Fatal(err)
	}
	root, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	uart := root.Find("/pl011@9000000")
	if uart == nil {
		t.Fatal("no /pl011@9000000")
	}
	if c, err := uart.Strings("compatible"); err != nil || !slices.Equal(c, []string{"arm,pl011", "arm,primecell"}) {
		t.Fatalf("pl011 compatible %q %v", c, err)
	}
	if r, err := uart.Reg(); err != nil || len(r) != 1 || r[0] != (Range{0x0900_0000, 0x1000}) {
		t.Fatalf("pl011 reg %+v %v", r, err)
	}
	gic := root.Find("/intc@8000000")
	if gic == nil || !gic.Has("interrupt-controller") {
		t.Fatal("no GIC")
	}
	if c, _ := gic.Strings("compatible"); !slices.Contains(c, "arm,gic-v3") {
		t.Fatalf("GIC compatible %q", c)
	}
	if cpus := root.Find("/cpus"); cpus == nil || cpus.Find("cpu@1") == nil {
		t.Fatal("no cpu@1")
	}
	if p, err := root.Find("/chosen").String("stdout-path"); err != nil || p != "/pl011@9000000" {
		t.Fatalf("stdout-path %q %v", p, err)
	}
}

// FuzzParse guards Devicetree Spec 5.2-5.5 (header, memory reservation,
// structure and strings blocks): any bytes parse or fail with ErrFormat,
// never panic, and a parsed tree is consistent: within the limits, every
// node reachable by its own path, parent links right, no reservation
// wrapping. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(qemuLike())
	f.Add(richTree())
	f.Add(withReservations(richTree(), Range{0x4000_0000, 0x1000}, Range{0, 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		blob, err := ParseBlob(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not wrapping ErrFormat: %v", err)
			}
			return
		}
		for _, r := range blob.Reservations {
			if r.Addr+r.Size < r.Addr {
				t.Fatalf("wrapping reservation %+v", r)
			}
		}
		nodes, props := 0, 0
		blob.Root.Walk(func(n *Node) error {
			nodes++
			props += len(n.Props)
			if got := blob.Root.Find(n.Path()); got != n {
				t.Fatalf("%q does not find itself", n.Path())
			}
			for _, c := range n.Children {
				if c.Parent != n {
					t.Fatalf("%q has the wrong parent", c.Path())
				}
			}
			for _, p := range n.Props {
				n.U32s(p.Name)
				n.Strings(p.Name)
			}
			if n.Parent != nil {
				n.Reg()
			}
			return nil
		})
		if nodes > MaxNodes || props > MaxProps {
			t.Fatalf("%d nodes, %d props", nodes, props)
		}
		if _, err := Memory(b); err != nil {
			// Memory may refuse cells Parse does not judge, but
			// only with ErrFormat.
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Memory: %v", err)
			}
		}
	})
}
