// cmd/hvmanifest: host tool that checks and bundles partition manifests.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
	"github.com/tamavisor/tamavisor/hv/manifest"
)

// elfX8664 is the start of an ELF64 x86-64 executable (EM_X86_64 = 62).
var elfX8664 = []byte("\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 11) + "\x3e\x00" + strings.Repeat("\x00", 44))

// x86VMs are two amd64 VMs with port consoles on COM1's numbers and
// passthrough I/O port ranges.
const x86VMs = `{"vms":[
 {"name":"linux","id":1,"vcpus":[{"cpu":0},{"cpu":1}],"memory":{"base":"0x100000","size":"256M"},
  "kernel":"../build/guests/vmlinux","cmdline":"console=ttyS0","console":{"port":"0x3f8","irq":4},
  "devices":[{"name":"com2","ports":[{"base":"0x2f8","size":8}]}],"autostart":true},
 {"name":"rtos","id":2,"vcpus":[{"cpu":1}],"memory":{"base":0,"size":"64M"},
  "kernel":"../build/guests/rtos.elf","console":{"port":"0x3f8","irq":4},
  "devices":[{"name":"lpt1","base":"0xfebf0000","size":"4K","ports":[{"base":"0x378","size":8}]}]}]}`

// x86Tree is a source tree with an x86 manifest in examples/ and its
// images in build/guests.
func x86Tree(t *testing.T, manifestText string) (root, path string) {
	root = tree(t, map[string][]byte{
		"examples/pc.json":      []byte(manifestText),
		"build/guests/vmlinux":  elfX8664,
		"build/guests/rtos.elf": elfX8664,
	})
	return root, filepath.Join(root, "examples", "pc.json")
}

func TestCheckX86(t *testing.T) {
	_, path := x86Tree(t, x86VMs)
	opts := Options{CPUs: 2, GuestRAM: 512 << 20, HostPorts: []hv.Region{{Name: "com1", Kind: hv.IOPort, Base: 0x3f8, Size: 8}}}
	c, err := Check(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := "2 VMs valid, 320 MiB guest RAM: linux (id 1, 2 vCPUs, 256 MiB, ELF64 x86-64, autostart), rtos (id 2, 1 vCPUs, 64 MiB, ELF64 x86-64)"
	if got := c.Summary(); got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
	code, out, errOut := runTool("check", "-cpus", "2", "-reserve-ports", "0x3f8:8:com1", "-reserve-ports", "0x20:2", path)
	if code != 0 || !strings.HasSuffix(out, ": "+want+"\n") || errOut != "" {
		t.Errorf("check: %d\n%s%s", code, out, errOut)
	}
}

func TestCheckX86Problems(t *testing.T) {
	cases := []struct {
		name  string
		text  string
		args  []string
		lines []string
	}{
		{name: "host COM1", args: []string{"-reserve-ports", "0x2f8:1:com2"},
			lines: []string{`pc.json: vm "linux": devices[0].ports[0]: ports [0x2f8,0x300) overlap the hypervisor's com2 ports [0x2f8,0x2f9)`,
				`pc.json: 1 of 2 VMs rejected`}},
		{name: "default name", args: []string{"-reserve-ports", "0x370:0x10"},
			lines: []string{`vm "rtos": devices[0].ports[0]: ports [0x378,0x380) overlap the hypervisor's reserved ports [0x370,0x380)`}},
		{name: "first VM keeps its ports", text: strings.Replace(x86VMs, `"0x378"`, `"0x2fc"`, 1),
			lines: []string{`vm "rtos": devices[0].ports[0]: ports [0x2fc,0x304) are already passed through to vm "linux" (device "com2" ports [0x2f8,0x300))`}},
		{name: "console and ports", text: strings.Replace(x86VMs, `"0x378"`, `"0x3f8"`, 1),
			lines: []string{`vm "rtos": devices[0].ports[0]: ports [0x3f8,0x400) overlap the console's ports [0x3f8,0x400)`}},
		{name: "console base and port", text: strings.Replace(x86VMs, `"port":"0x3f8"`, `"base":"0x9000000","port":"0x3f8"`, 1),
			lines: []string{`pc.json: vm "linux": console.port: give either base (a PL011 in memory) or port (a 16550 at I/O ports), not both`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.text
			if text == "" {
				text = x86VMs
			}
			_, path := x86Tree(t, text)
			code, out, errOut := runTool(append(append([]string{"check"}, tc.args...), path)...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q", code, out)
			}
			for _, l := range tc.lines {
				if !strings.Contains(errOut, l) {
					t.Errorf("stderr lacks %q:\n%s", l, errOut)
				}
			}
		})
	}
}

func TestReservePortsUsage(t *testing.T) {
	for _, v := range []string{"0x3f8", "0x3f8:0", "0x10000:1", "0xfff8:9", "com1:8", "0x3f8:eight", "0x3f8:0xffffffffffffffff"} {
		if code, _, errOut := runTool("check", "-reserve-ports", v, "x.json"); code != 2 || !strings.Contains(errOut, "-reserve-ports") {
			t.Errorf("-reserve-ports %q: exit %d, stderr %q", v, code, errOut)
		}
	}
	var p portsFlag
	for _, v := range []string{"0x3f8:8:com1", "0:64K", "0xffff:1:"} {
		if err := p.Set(v); err != nil {
			t.Errorf("Set(%q): %v", v, err)
		}
	}
	want := portsFlag{{Name: "com1", Kind: hv.IOPort, Base: 0x3f8, Size: 8}, {Name: "reserved", Kind: hv.IOPort, Base: 0, Size: 0x10000},
		{Name: "reserved", Kind: hv.IOPort, Base: 0xffff, Size: 1}}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %v, want %v", p, want)
	}
}

func TestBundleX86(t *testing.T) {
	root, path := x86Tree(t, x86VMs)
	out := filepath.Join(root, "build", "bundle")
	code, stdout, errOut := runTool("bundle", "-o", out, "-cpus", "2", "-reserve-ports", "0x3f8:8:com1", path)
	if code != 0 || errOut != "" || !strings.Contains(stdout, "bundled into "+out) {
		t.Fatalf("bundle: exit %d\n%s%s", code, stdout, errOut)
	}
	m := readBundle(t, out)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := manifest.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	for i, vm := range m.VMs {
		o := *orig.VMs[i]
		o.Kernel = "images/" + filepath.Base(o.Kernel)
		if !reflect.DeepEqual(vm, &o) {
			t.Errorf("bundled VM\n got %+v\nwant %+v", vm, &o)
		}
	}
	if c := m.VM("linux").Console; !c.IsPort() || c.Port != 0x3f8 || c.IRQ != 4 {
		t.Errorf("bundled console %+v", c)
	}
	// The refusal of a reserved port also stops a bundle.
	if _, err := Bundle(path, out, Options{HostPorts: []hv.Region{{Name: "com2", Kind: hv.IOPort, Base: 0x2f8, Size: 8}}}); !errors.Is(err, ErrRejected) {
		t.Errorf("bundle with com2 reserved: %v", err)
	}
}
