// hv/fdt: a flattened devicetree writer for the trees tamavisor gives its guests.
// SPDX-License-Identifier: BSD-3-Clause

package fdt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rd "github.com/tamavisor/tamavisor/soc/fdt"
)

func sample(t *testing.T) []byte {
	t.Helper()
	w := NewWriter()
	w.SetBootCPU(0)
	w.AddReservation(0x4800_0000, 0x1000)
	gic := w.AllocPhandle()
	w.BeginNode("")
	w.PropU32("#address-cells", 2)
	w.PropU32("#size-cells", 2)
	w.PropStrings("compatible", "tamavisor,vm", "linux,dummy-virt")
	w.PropU32("interrupt-parent", gic)
	w.BeginNode("memory@40000000")
	w.PropString("device_type", "memory")
	w.PropU64("reg", 0x4000_0000, 0x2000_0000)
	w.EndNode()
	w.BeginNode("intc@8000000")
	w.PropStrings("compatible", "arm,gic-v3")
	w.PropU32("#interrupt-cells", 3)
	w.PropU32("#address-cells", 0)
	w.PropEmpty("interrupt-controller")
	w.PropU64("reg", 0x800_0000, 0x1_0000, 0x80a_0000, 0x2_0000)
	w.PropU32("phandle", gic)
	w.EndNode()
	w.EndNode()
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHeader checks the 5.2 header fields and the 5.6 block layout.
func TestHeader(t *testing.T) {
	b := sample(t)
	be := binary.BigEndian
	field := func(i int) uint32 { return be.Uint32(b[4*i:]) }
	if field(0) != FDT_MAGIC || int(field(1)) != len(b) {
		t.Fatalf("magic %#x totalsize %d len %d", field(0), field(1), len(b))
	}
	offStruct, offStrings, offRsv := field(2), field(3), field(4)
	if field(5) != 17 || field(6) != 16 || field(7) != 0 {
		t.Fatalf("version %d last_comp %d boot cpu %d", field(5), field(6), field(7))
	}
	if offRsv%8 != 0 || offStruct%4 != 0 || offRsv < HeaderSize {
		t.Fatalf("alignment: rsv %#x struct %#x", offRsv, offStruct)
	}
	if offStruct+field(9) != offStrings || offStrings+field(8) != field(1) {
		t.Fatalf("blocks do not tile: %#x+%#x, %#x+%#x, total %#x", offStruct, field(9), offStrings, field(8), field(1))
	}
	// one reservation, then the zero terminator
	if be.Uint64(b[offRsv:]) != 0x4800_0000 || be.Uint64(b[offRsv+8:]) != 0x1000 ||
		be.Uint64(b[offRsv+16:]) != 0 || be.Uint64(b[offRsv+24:]) != 0 {
		t.Fatalf("reservation block % x", b[offRsv:offRsv+32])
	}
	if be.Uint32(b[offStrings-4:]) != FDT_END {
		t.Fatal("structure block does not end with FDT_END")
	}
	// names deduplicated: "#address-cells" etc. once each
	strs := string(b[offStrings:])
	for _, n := range []string{"#address-cells", "reg", "phandle", "compatible"} {
		if c := strings.Count(strs, n+"\x00"); c != 1 {
			t.Errorf("%q appears %d times in strings block", n, c)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	blob, err := rd.ParseBlob(sample(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(blob.Reservations) != 1 || blob.Reservations[0] != (rd.Range{Addr: 0x4800_0000, Size: 0x1000}) {
		t.Fatalf("reservations %+v", blob.Reservations)
	}
	root := blob.Root
	if c, err := root.Strings("compatible"); err != nil || !slices.Equal(c, []string{"tamavisor,vm", "linux,dummy-virt"}) {
		t.Fatalf("compatible %q %v", c, err)
	}
	mem := root.Find("/memory@40000000")
	if mem == nil {
		t.Fatal("no memory node")
	}
	if s, err := mem.String("device_type"); err != nil || s != "memory" {
		t.Fatalf("device_type %q %v", s, err)
	}
	if r, err := mem.Reg(); err != nil || len(r) != 1 || r[0] != (rd.Range{Addr: 0x4000_0000, Size: 0x2000_0000}) {
		t.Fatalf("reg %+v %v", r, err)
	}
	intc := root.Find("intc")
	if intc == nil || !intc.Has("interrupt-controller") {
		t.Fatal("no intc or no interrupt-controller")
	}
	ph, _ := intc.U32("phandle")
	ip, _ := root.U32("interrupt-parent")
	if ph != 1 || ip != ph {
		t.Fatalf("phandle %d interrupt-parent %d", ph, ip)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(w *Writer)
		want error
	}{
		{"no root", func(w *Writer) {}, ErrNesting},
		{"root named", func(w *Writer) { w.BeginNode("root"); w.EndNode() }, ErrNesting},
		{"root open", func(w *Writer) { w.BeginNode("") }, ErrNesting},
		{"child open", func(w *Writer) { w.BeginNode(""); w.BeginNode("a"); w.EndNode() }, ErrNesting},
		{"extra end", func(w *Writer) { w.BeginNode(""); w.EndNode(); w.EndNode() }, ErrNesting},
		{"two roots", func(w *Writer) { w.BeginNode(""); w.EndNode(); w.BeginNode(""); w.EndNode() }, ErrNesting},
		{"prop outside", func(w *Writer) { w.PropU32("a", 1); w.BeginNode(""); w.EndNode() }, ErrOutsideNode},
		{"prop after root", func(w *Writer) { w.BeginNode(""); w.EndNode(); w.PropEmpty("a") }, ErrOutsideNode},
		{"empty child", func(w *Writer) { w.BeginNode(""); w.BeginNode(""); w.EndNode(); w.EndNode() }, ErrName},
		{"slash", func(w *Writer) { w.BeginNode(""); w.BeginNode("a/b"); w.EndNode(); w.EndNode() }, ErrName},
		{"digit first", func(w *Writer) { w.BeginNode(""); w.BeginNode("1a"); w.EndNode(); w.EndNode() }, ErrName},
		{"long", func(w *Writer) { w.BeginNode(""); w.BeginNode(strings.Repeat("a", 32)); w.EndNode(); w.EndNode() }, ErrName},
		{"empty unit", func(w *Writer) { w.BeginNode(""); w.BeginNode("a@"); w.EndNode(); w.EndNode() }, ErrName},
		{"two at", func(w *Writer) { w.BeginNode(""); w.BeginNode("a@1@2"); w.EndNode(); w.EndNode() }, ErrName},
		{"prop name", func(w *Writer) { w.BeginNode(""); w.PropEmpty("a b"); w.EndNode() }, ErrName},
		{"prop empty name", func(w *Writer) { w.BeginNode(""); w.PropEmpty(""); w.EndNode() }, ErrName},
		{"dup prop", func(w *Writer) { w.BeginNode(""); w.PropEmpty("a"); w.PropU32("a", 1); w.EndNode() }, ErrDuplicate},
		{"dup node", func(w *Writer) {
			w.BeginNode("")
			w.BeginNode("a")
			w.EndNode()
			w.BeginNode("a")
			w.EndNode()
			w.EndNode()
		}, ErrDuplicate},
		{"nul string", func(w *Writer) { w.BeginNode(""); w.PropString("a", "x\x00y"); w.EndNode() }, ErrValue},
		{"no strings", func(w *Writer) { w.BeginNode(""); w.PropStrings("a"); w.EndNode() }, ErrValue},
		{"bad reservation", func(w *Writer) { w.AddReservation(1<<63, 1<<63); w.BeginNode(""); w.EndNode() }, ErrValue},
		{"too deep", func(w *Writer) {
			w.BeginNode("")
			for i := 0; i < MaxDepth; i++ {
				w.BeginNode("n")
			}
		}, ErrNesting},
	} {
		w := NewWriter()
		tc.fn(w)
		b, err := w.Finish()
		if !errors.Is(err, tc.want) || b != nil {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestFinishTwice(t *testing.T) {
	w := NewWriter()
	w.BeginNode("")
	w.EndNode()
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); !errors.Is(err, ErrFinished) {
		t.Fatalf("second Finish: %v", err)
	}
}

// TestSameNameDifferentNodes: a property or child name may repeat in
// different nodes, only not within one.
func TestSameNameDifferentNodes(t *testing.T) {
	w := NewWriter()
	w.BeginNode("")
	w.PropU32("reg", 1)
	w.BeginNode("a")
	w.PropU32("reg", 2)
	w.BeginNode("a")
	w.EndNode()
	w.EndNode()
	w.EndNode()
	b, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	root, err := rd.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if root.Find("/a/a") == nil {
		t.Fatal("no /a/a")
	}
}

func TestPhandles(t *testing.T) {
	w := NewWriter()
	seen := map[uint32]bool{}
	for i := 0; i < 100; i++ {
		p := w.AllocPhandle()
		if p == 0 || p == 0xffffffff || seen[p] {
			t.Fatalf("phandle %#x", p)
		}
		seen[p] = true
	}
	w.phandle = 0xfffffffe
	if p := w.AllocPhandle(); p != 0 || !errors.Is(w.Err(), ErrValue) {
		t.Fatalf("exhausted: %#x %v", p, w.Err())
	}
}

// TestDTC decompiles the sample with the reference compiler, when it is
// installed, which checks the blob independently of soc/fdt.
func TestDTC(t *testing.T) {
	dtc, err := exec.LookPath("dtc")
	if err != nil {
		t.Skip("SKIP: dtc not installed")
	}
	f := filepath.Join(t.TempDir(), "s.dtb")
	if err := os.WriteFile(f, sample(t), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dtc, "-I", "dtb", "-O", "dts", f).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("Warning")) {
		t.Fatalf("dtc: %v\n%s", err, out)
	}
	for _, want := range []string{"/memreserve/\t0x0000000048000000 0x0000000000001000;", "memory@40000000 {", "interrupt-controller;", `"tamavisor,vm\0linux,dummy-virt"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("dtc output lacks %q:\n%s", want, out)
		}
	}
}
