// soc/qemu/fwcfg: QEMU firmware configuration (fw_cfg) device reader.
// SPDX-License-Identifier: BSD-3-Clause

package fwcfg

import (
	"encoding/binary"
	"errors"
	"testing"
)

// fakeFWCfg models the device: items by key, a read cursor reset on select.
type fakeFWCfg struct {
	items map[uint16][]byte
	cur   []byte
}

func (f *fakeFWCfg) Select(key uint16) { f.cur = f.items[key] }
func (f *fakeFWCfg) DataByte() byte {
	if len(f.cur) == 0 {
		return 0
	}
	b := f.cur[0]
	f.cur = f.cur[1:]
	return b
}

func dirEntry(name string, size uint32, sel uint16) []byte {
	e := make([]byte, fileEntrySize)
	binary.BigEndian.PutUint32(e, size)
	binary.BigEndian.PutUint16(e[4:], sel)
	copy(e[8:], name)
	return e
}

func newFake() *fakeFWCfg {
	ram := make([]byte, 8)
	binary.LittleEndian.PutUint64(ram, 1<<30)
	cpus := []byte{2, 0}
	e820 := make([]byte, 40)
	binary.LittleEndian.PutUint64(e820[0:], 0)
	binary.LittleEndian.PutUint64(e820[8:], 0x9fc00)
	binary.LittleEndian.PutUint32(e820[16:], E820_RAM)
	binary.LittleEndian.PutUint64(e820[20:], 0x100000)
	binary.LittleEndian.PutUint64(e820[28:], 0x3ff00000)
	binary.LittleEndian.PutUint32(e820[36:], E820_RAM)
	dir := []byte{0, 0, 0, 2}
	dir = append(dir, dirEntry("etc/boot-fail-wait", 4, 0x20)...)
	dir = append(dir, dirEntry("etc/e820", 40, 0x21)...)
	return &fakeFWCfg{items: map[uint16][]byte{
		FW_CFG_SIGNATURE: []byte("QEMU"),
		FW_CFG_RAM_SIZE:  ram,
		FW_CFG_NB_CPUS:   cpus,
		FW_CFG_FILE_DIR:  dir,
		0x21:             e820,
	}}
}

func TestDevice(t *testing.T) {
	d := &Device{T: newFake()}
	if sz, err := d.RAMSize(); err != nil || sz != 1<<30 {
		t.Fatalf("RAMSize = %#x, %v", sz, err)
	}
	if n, err := d.CPUs(); err != nil || n != 2 {
		t.Fatalf("CPUs = %d, %v", n, err)
	}
	b, err := d.ReadFile("etc/e820")
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseE820(b)
	if err != nil || len(e) != 2 || e[1].Addr != 0x100000 || e[1].Len != 0x3ff00000 || e[1].Type != E820_RAM {
		t.Fatalf("e820 = %+v, %v", e, err)
	}
	if _, err := d.ReadFile("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
}

func TestNoDevice(t *testing.T) {
	d := &Device{T: &fakeFWCfg{items: map[uint16][]byte{}}}
	if _, err := d.RAMSize(); !errors.Is(err, ErrNoDevice) {
		t.Errorf("got %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := ParseDir([]byte{0, 0, 0, 9, 1, 2}); !errors.Is(err, ErrFormat) {
		t.Errorf("short dir: %v", err)
	}
	if _, err := ParseDir([]byte{0xff, 0xff, 0xff, 0xff}); !errors.Is(err, ErrFormat) {
		t.Errorf("huge dir: %v", err)
	}
	if _, err := ParseE820(make([]byte, 21)); !errors.Is(err, ErrFormat) {
		t.Errorf("odd e820: %v", err)
	}
	wrap := make([]byte, 20)
	binary.LittleEndian.PutUint64(wrap, ^uint64(0))
	binary.LittleEndian.PutUint64(wrap[8:], 2)
	if _, err := ParseE820(wrap); !errors.Is(err, ErrFormat) {
		t.Errorf("wrapping e820: %v", err)
	}
}

// FuzzParseDir guards fw_cfg.rst "FW_CFG_FILE_DIR": any bytes parse or
// fail cleanly, and parsed names never exceed 56 bytes.
func FuzzParseDir(f *testing.F) {
	f.Add(newFake().items[FW_CFG_FILE_DIR])
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := ParseDir(b)
		if err != nil {
			return
		}
		for _, fl := range files {
			if len(fl.Name) > fileNameLen {
				t.Fatalf("name of %d bytes", len(fl.Name))
			}
		}
	})
}

// FuzzParseE820 guards the "etc/e820" layout (ACPI 15.1): parsed ranges
// never wrap.
func FuzzParseE820(f *testing.F) {
	f.Add(newFake().items[0x21])
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseE820(b)
		if err != nil {
			return
		}
		for _, e := range es {
			if e.Addr+e.Len < e.Addr {
				t.Fatalf("wrapping entry %+v", e)
			}
		}
	})
}
