// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// exampleX86 is a valid manifest of amd64 VMs: port consoles, a device
// with I/O ports only and one with a memory window and ports.
const exampleX86 = `{
  "vms": [
    {
      "name": "linux", "id": 1,
      "vcpus": [ {"cpu": 0}, {"cpu": 1} ],
      "memory": {"base": "0x100000", "size": "256M"},
      "kernel": "bzImage.elf",
      "cmdline": "console=ttyS0,115200 earlyprintk=serial,ttyS0",
      "console": {"port": "0x3f8", "irq": 4},
      "devices": [
        {"name": "com2", "ports": [{"base": "0x2f8", "size": 8}]},
        {"name": "nic", "base": "0xfebf0000", "size": "64K", "irqs": [42],
         "ports": [{"base": "0xc000", "size": "0x20"}, {"base": 49216, "size": 1}]}
      ],
      "autostart": true
    },
    {
      "name": "rtos", "id": 2,
      "vcpus": [ {"cpu": 1} ],
      "memory": {"base": 0, "size": "16M"},
      "kernel": "rtos.elf",
      "console": {"port": "0xfff8", "irq": 0},
      "devices": [ {"name": "all", "ports": [{"base": 0, "size": "0x10000"}]} ]
    }
  ]
}`

func exampleX86Manifest() *Manifest {
	return &Manifest{VMs: []*VM{
		{
			Name: "linux", ID: 1,
			VCPUs:   []VCPU{{0}, {1}},
			Memory:  Memory{Base: 0x10_0000, Size: 256 << 20},
			Kernel:  "bzImage.elf",
			Cmdline: "console=ttyS0,115200 earlyprintk=serial,ttyS0",
			Console: &Console{Port: 0x3f8, HasPort: true, IRQ: 4},
			Devices: []Device{
				{Name: "com2", Ports: []PortRange{{Base: 0x2f8, Size: 8}}},
				{Name: "nic", Base: 0xfebf_0000, Size: 64 << 10, PA: 0xfebf_0000, IRQs: []uint32{42},
					Ports: []PortRange{{Base: 0xc000, Size: 0x20}, {Base: 0xc040, Size: 1}}},
			},
			Autostart: true,
		},
		{
			Name: "rtos", ID: 2,
			VCPUs:   []VCPU{{1}},
			Memory:  Memory{Base: 0, Size: 16 << 20},
			Kernel:  "rtos.elf",
			Console: &Console{Port: 0xfff8, HasPort: true, IRQ: 0},
			Devices: []Device{{Name: "all", Ports: []PortRange{{Base: 0, Size: PortSpace}}}},
		},
	}}
}

func TestParseX86(t *testing.T) {
	m, err := Parse([]byte(exampleX86))
	if err != nil {
		t.Fatal(err)
	}
	if want := exampleX86Manifest(); !reflect.DeepEqual(m, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", m, want)
	}
	c := m.VMs[0].Console
	if !c.IsPort() {
		t.Error("port console: IsPort false")
	}
	if r, ok := c.Ports(); !ok || r != (PortRange{0x3f8, 8}) || r.End() != 0x400 || r.String() != "[0x3f8,0x400)" {
		t.Errorf("Console.Ports = %v, %v", r, ok)
	}
	if d := m.VMs[0].Devices; d[0].HasWindow() || !d[1].HasWindow() {
		t.Errorf("HasWindow: %v %v", d[0].HasWindow(), d[1].HasWindow())
	}
	arm, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if c := arm.VMs[0].Console; c.IsPort() {
		t.Error("PL011 console: IsPort true")
	} else if _, ok := c.Ports(); ok {
		t.Error("PL011 console has ports")
	}
}

func TestEncodeRoundTripX86(t *testing.T) {
	m := exampleX86Manifest()
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Encode()): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v\n%s", back, m, out)
	}
	for _, s := range []string{`"port": "0x3f8"`, `"size": "0x10000"`} {
		if !strings.Contains(string(out), s) {
			t.Errorf("Encode output lacks %s:\n%s", s, out)
		}
	}
	// A port console has no base, a device with ports only no window.
	var con struct {
		VMs []struct {
			Console map[string]any   `json:"console"`
			Devices []map[string]any `json:"devices"`
		} `json:"vms"`
	}
	if err := json.Unmarshal(out, &con); err != nil {
		t.Fatal(err)
	}
	if _, ok := con.VMs[0].Console["base"]; ok {
		t.Errorf("port console written with base: %v", con.VMs[0].Console)
	}
	for _, k := range []string{"base", "size", "pa"} {
		if _, ok := con.VMs[0].Devices[0][k]; ok {
			t.Errorf("ports-only device written with %s: %v", k, con.VMs[0].Devices[0])
		}
	}
}

// parseFails checks that Parse rejects in with an error of kind whose
// text contains msg.
func parseFails(t *testing.T, in string, kind error, msg string) {
	t.Helper()
	m, err := Parse([]byte(in))
	if err == nil {
		t.Fatalf("Parse succeeded: %+v", m)
	}
	if m != nil {
		t.Errorf("Parse returned a manifest with an error")
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("error %q does not contain %q", err, msg)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error %q holds no *FieldError", err)
	}
}

func TestParseErrorsPorts(t *testing.T) {
	dev := func(s string) string { return `[` + s + `]` }
	ports := func(s string) string { return dev(`{"name":"d","ports":` + s + `}`) }
	many := func(elem string, n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]"
	}
	cases := []struct {
		name string
		in   string
		kind error
		msg  string
	}{
		// Console.
		{"console base and port", vm(t, "console", `{"base":"0x9000000","port":"0x3f8","irq":4}`), ErrConflict,
			`vm "t": console.port: give either base (a PL011 in memory) or port (a 16550 at I/O ports), not both`},
		{"console neither base nor port", vm(t, "console", `{"irq":4}`), ErrMissing,
			`vm "t": console.base: missing: give base (a PL011 in memory) or port (a 16550 at I/O ports)`},
		{"console base and port null", vm(t, "console", `{"base":null,"port":null,"irq":4}`), ErrMissing, "console.base: missing"},
		{"console port unaligned", vm(t, "console", `{"port":"0x3f9","irq":4}`), ErrAlign, `vm "t": console.port: 0x3f9 is not a multiple of 8`},
		{"console port too high", vm(t, "console", `{"port":"0x10000","irq":4}`), ErrRange,
			"console.port: port 0x10000 + 8 ends beyond the I/O port space (0x10000 ports)"},
		{"console port huge", vm(t, "console", `{"port":"0xfffffffffffffff8","irq":4}`), ErrRange, "console.port: port 0xfffffffffffffff8"},
		{"console port malformed", vm(t, "console", `{"port":"COM1","irq":4}`), ErrNumber, `console.port: "COM1"`},
		{"console port irq 16", vm(t, "console", `{"port":"0x3f8","irq":16}`), ErrIRQ, `vm "t": console.irq: 16 is not an ISA IRQ (0..15) as a console port needs`},
		{"console port irq SPI", vm(t, "console", `{"port":"0x3f8","irq":33}`), ErrIRQ, "console.irq: 33 is not an ISA IRQ"},
		{"console port irq missing", vm(t, "console", `{"port":"0x3f8"}`), ErrMissing, "console.irq: missing"},
		{"console base irq ISA", vm(t, "console", `{"base":"0x9000000","irq":4}`), ErrIRQ, "console.irq: 4 is not an SPI INTID (32..1019)"},
		{"console unknown field", vm(t, "console", `{"port":"0x3f8","irq":4,"ports":1}`), ErrUnknownField,
			"vms[0].console.ports: line 1 col 44: unknown field (known: base, port, irq)"},

		// Device port ranges.
		{"ports too many", vm(t, "devices", ports(many(`{"base":"0x2f8","size":1}`, MaxPortRanges+1))), ErrCount,
			`vm "t": devices[0].ports: 17 port ranges, at most 16 allowed`},
		{"ports size zero", vm(t, "devices", ports(`[{"base":"0x2f8","size":0}]`)), ErrRange,
			`vm "t": devices[0].ports[0].size: 0 ports: a range needs at least 1`},
		{"ports beyond 64K", vm(t, "devices", ports(`[{"base":"0xfff8","size":9}]`)), ErrRange,
			`vm "t": devices[0].ports[0]: base 0xfff8 + size 0x9 ends beyond the I/O port space (0x10000 ports)`},
		{"ports base 64K", vm(t, "devices", ports(`[{"base":"64K","size":1}]`)), ErrRange, "devices[0].ports[0]: base 0x10000 + size 0x1"},
		{"ports huge size", vm(t, "devices", ports(`[{"base":1,"size":"0xffffffffffffffff"}]`)), ErrRange, "devices[0].ports[0]: base 0x1"},
		{"ports base missing", vm(t, "devices", ports(`[{"size":8}]`)), ErrMissing, `vm "t": devices[0].ports[0].base: missing`},
		{"ports size missing", vm(t, "devices", ports(`[{},{"base":1}]`)), ErrMissing, "devices[0].ports[1].size: missing"},
		{"ports malformed", vm(t, "devices", ports(`[{"base":"0x2f8h","size":8}]`)), ErrNumber, `devices[0].ports[0].base: "0x2f8h"`},
		{"ports unknown field", vm(t, "devices", ports(`[{"base":1,"size":8,"irq":3}]`)), ErrUnknownField,
			"vms[0].devices[0].ports[0].irq: line 1 col 61: unknown field (known: base, size)"},
		{"ports not an array", vm(t, "devices", ports(`{"base":1,"size":8}`)), ErrType, "want an array"},
		{"pa without window", vm(t, "devices", dev(`{"name":"d","pa":"0x9000000","ports":[{"base":1,"size":8}]}`)), ErrConflict,
			`vm "t": devices[0].pa: pa without a memory window: give base and size too, or drop pa`},
		{"ports with base but no size", vm(t, "devices", dev(`{"name":"d","base":"0x9000000","ports":[{"base":1,"size":8}]}`)), ErrMissing,
			"devices[0].size: missing"},
		{"ports with size but no base", vm(t, "devices", dev(`{"name":"d","size":"4K","ports":[{"base":1,"size":8}]}`)), ErrMissing,
			"devices[0].base: missing"},
		{"ports with a bad window", vm(t, "devices", dev(`{"name":"d","base":"0x10","size":"4K","ports":[{"base":1,"size":8}]}`)), ErrAlign,
			"devices[0].base: 0x10 is not a multiple of 0x1000"},
		{"no window and no ports", vm(t, "devices", dev(`{"name":"d"}`)), ErrMissing, `vm "t": devices[0].base: missing`},
		{"no window and empty ports", vm(t, "devices", ports(`[]`)), ErrMissing, "devices[0].size: missing"},
		{"ports and an irq that is not an SPI", vm(t, "devices", dev(`{"name":"d","irqs":[3],"ports":[{"base":1,"size":8}]}`)), ErrIRQ,
			"devices[0].irqs[0]: 3 is not an SPI"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { parseFails(t, tc.in, tc.kind, tc.msg) })
	}
}

// TestParseAllPortProblems checks that every port problem of a manifest
// is reported at once.
func TestParseAllPortProblems(t *testing.T) {
	_, err := Parse([]byte(`{"vms":[{"name":"t","id":1,"vcpus":[{"cpu":0}],"memory":{"base":0,"size":"1M"},"kernel":"k",` +
		`"console":{"port":"0x3f9","irq":16},"devices":[{"name":"d","pa":0,"ports":[{"base":"0xffff","size":2},{"base":1,"size":0}]}]}]}`))
	for _, kind := range []error{ErrAlign, ErrIRQ, ErrConflict, ErrRange} {
		if !errors.Is(err, kind) {
			t.Errorf("%v missing from %q", kind, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("%d problems, want 5:\n%v", n, err)
	}
}

// pcLimits are limits like an x86 PC's: the hypervisor keeps COM1 and,
// through HostReserved, the PIC's command ports.
func pcLimits() Limits {
	lim := qemuLimits()
	lim.Reserved = nil
	lim.HostPorts = []hv.Region{{Name: "com1", Kind: hv.IOPort, Base: 0x3f8, Size: 8}}
	lim.HostReserved = append(lim.HostReserved, hv.Region{Name: "pic", Kind: hv.IOPort, Base: 0x20, Size: 2})
	return lim
}

func TestValidatePorts(t *testing.T) {
	ok := want{}
	rej := func(msg string, kinds ...error) want { return want{msg, kinds} }
	// x86 returns a valid amd64 VM: RAM at 1 MiB, COM1 console.
	x86 := func(name string, id int, kv ...string) string {
		return v(t, name, id, append([]string{"memory", `{"base":"0x100000","size":"64M"}`, "console", `{"port":"0x3f8","irq":4}`}, kv...)...)
	}
	dev := func(name, ranges string) string {
		return fmt.Sprintf(`{"name":%q,"ports":%s}`, name, ranges)
	}
	list := func(devs ...string) string { return "[" + strings.Join(devs, ",") + "]" }
	com2 := dev("com2", `[{"base":"0x2f8","size":8}]`)
	cases := []struct {
		name  string
		vms   []string
		lim   func(*Limits)
		wants map[string]want
	}{
		{"valid: port consoles on the host's COM1 numbers, RAM at 0 and at 1 MiB",
			[]string{x86("a", 1, "devices", list(com2)),
				x86("b", 2, "memory", `{"base":0,"size":"64M"}`, "devices", list(dev("com3", `[{"base":"0x3e8","size":8}]`)))}, nil,
			map[string]want{"a": ok, "b": ok}},
		{"a port console is not a memory window",
			[]string{x86("a", 1, "memory", `{"base":0,"size":"64M"}`, "console", `{"port":"0x0","irq":4}`)}, nil,
			map[string]want{"a": ok}},
		{"a device with ports only has no memory or host-physical window",
			[]string{x86("a", 1, "memory", `{"base":0,"size":"64M"}`, "devices", list(com2, dev("lpt1", `[{"base":"0x378","size":8}]`))),
				x86("b", 2, "memory", `{"base":0,"size":"64M"}`, "devices", list(dev("lpt2", `[{"base":"0x278","size":8}]`)))},
			func(l *Limits) {
				l.Reserved = []Window{{Name: "low", Base: 0, Size: 0}}
				l.HostReserved = append(l.HostReserved, hv.Region{Name: "zero", Kind: hv.MMIO, Base: 0, Size: 0x1000})
			},
			map[string]want{"a": ok, "b": ok}},
		{"a port console overlaps a device's ports",
			[]string{x86("a", 1, "console", `{"port":"0x2f8","irq":3}`, "devices", list(dev("d", `[{"base":"0x2fc","size":4}]`)))}, nil,
			map[string]want{"a": rej(`vm "a": devices[0].ports[0]: ports [0x2fc,0x300) overlap the console's ports [0x2f8,0x300)`, ErrOverlap)}},
		{"port ranges overlap inside one VM",
			[]string{x86("a", 1, "devices", list(dev("d", `[{"base":"0x2f8","size":8},{"base":"0x2ff","size":1}]`))),
				x86("b", 2, "devices", list(com2, dev("e", `[{"base":"0x2e8","size":"0x20"}]`)))}, nil,
			map[string]want{
				"a": rej(`vm "a": devices[0].ports[1]: ports [0x2ff,0x300) overlap ports [0x2f8,0x300) of device "d"`, ErrPortInUse),
				"b": rej(`vm "b": devices[1].ports[0]: ports [0x2e8,0x308) overlap ports [0x2f8,0x300) of device "com2"`, ErrPortInUse)}},
		{"ports the hypervisor keeps",
			[]string{x86("a", 1, "devices", list(dev("com1", `[{"base":"0x3f8","size":8}]`))),
				x86("b", 2, "devices", list(dev("pic", `[{"base":"0x21","size":1}]`))),
				x86("c", 3, "devices", list(dev("all", `[{"base":0,"size":"64K"}]`)))}, nil,
			map[string]want{
				"a": rej(`vm "a": devices[0].ports[0]: ports [0x3f8,0x400) overlap the hypervisor's com1 ports [0x3f8,0x400)`, ErrHostReserved),
				"b": rej(`vm "b": devices[0].ports[0]: ports [0x21,0x22) overlap the hypervisor's pic ports [0x20,0x22)`, ErrHostReserved),
				"c": rej(`overlap the hypervisor's com1 ports`, ErrHostReserved)}},
		{"hv.IOPort entries of HostReserved are ports, not host-physical memory",
			[]string{x86("a", 1, "devices", `[{"name":"d","base":"0x20000","size":"4K","pa":"0x0"}]`)},
			func(l *Limits) { l.HostReserved = []hv.Region{{Name: "pic", Kind: hv.IOPort, Base: 0, Size: 0x1000}} },
			map[string]want{"a": ok}},
		{"port range: the first VM keeps it",
			[]string{x86("a", 1, "devices", list(com2)),
				x86("b", 2, "devices", list(dev("uart", `[{"base":"0x2e8","size":8},{"base":"0x2fe","size":4}]`))),
				x86("c", 3, "devices", list(dev("com4", `[{"base":"0x2e8","size":8}]`)))}, nil,
			map[string]want{"a": ok,
				"b": rej(`vm "b": devices[0].ports[1]: ports [0x2fe,0x302) are already passed through to vm "a" (device "com2" ports [0x2f8,0x300))`, ErrPortInUse),
				"c": ok}},
		{"a rejected VM claims no ports",
			[]string{x86("a", 1, "kernel", `"empty"`, "devices", list(com2)), x86("b", 2, "devices", list(com2))}, nil,
			map[string]want{"a": rej(`vm "a": kernel: image "empty" is empty`, ErrImageEmpty), "b": ok}},
		{"a VM rejected for its ports claims nothing else",
			[]string{x86("a", 1, "devices", `[{"name":"nic","base":"0x0a000000","size":"4K","irqs":[40],"ports":[{"base":"0x3f8","size":1}]}]`),
				x86("b", 2, "devices", `[{"name":"nic","base":"0x0a000000","size":"4K","irqs":[40],"ports":[{"base":"0xc000","size":1}]}]`)}, nil,
			map[string]want{"a": rej(`vm "a": devices[0].ports[0]: ports [0x3f8,0x3f9) overlap the hypervisor's com1`, ErrHostReserved), "b": ok}},
		{"memory windows and ports of one device are both claimed",
			[]string{x86("a", 1, "devices", `[{"name":"nic","base":"0x0a000000","size":"4K","irqs":[40],"ports":[{"base":"0xc000","size":"0x20"}]}]`),
				x86("b", 2, "devices", `[{"name":"nic","base":"0x0a000000","size":"4K","ports":[{"base":"0xc01f","size":1}]}]`),
				x86("c", 3, "devices", `[{"name":"nic","base":"0x0a000000","size":"4K","irqs":[41],"ports":[{"base":"0xc020","size":1}]}]`)}, nil,
			map[string]want{"a": ok,
				"b": rej(`vm "b": devices[0].pa: [0xa000000,0xa001000) is already passed through to vm "a"`, ErrPAInUse, ErrPortInUse),
				"c": rej(`vm "c": devices[0].pa`, ErrPAInUse)}},
		{"console IRQ and device IRQs of an x86 VM",
			[]string{x86("a", 1, "devices", `[{"name":"nic","base":"0x0a000000","size":"4K","irqs":[40,40]}]`),
				x86("b", 2, "devices", `[{"name":"nic","base":"0x0a000000","size":"4K","irqs":[41]}]`)}, nil,
			map[string]want{"a": rej(`vm "a": devices[0].irqs[1]: INTID 40 is already an interrupt of device "nic"`, ErrIRQInUse), "b": ok}},
		{"zero limits: no host ports are checked",
			[]string{x86("a", 1, "console", `{"port":"0x2f8","irq":3}`, "devices", list(dev("com1", `[{"base":"0x3f8","size":8}]`)))},
			func(l *Limits) { *l = Limits{} },
			map[string]want{"a": ok}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := parseVMs(t, tc.vms...)
			lim := pcLimits()
			if tc.lim != nil {
				tc.lim(&lim)
			}
			checkReport(t, m, m.Validate(lim), tc.wants)
		})
	}
}

// TestValidateConsoleIRQDistinct checks rule 4 for a port console on a
// Manifest that did not come from Parse (Parse keeps ISA and SPI
// numbers apart).
func TestValidateConsoleIRQDistinct(t *testing.T) {
	m := &Manifest{VMs: []*VM{{
		Name: "a", ID: 1, VCPUs: []VCPU{{0}}, Memory: Memory{Base: 0, Size: 1 << 20}, Kernel: "k",
		Console: &Console{Port: 0x3f8, HasPort: true, IRQ: 40},
		Devices: []Device{{Name: "d", IRQs: []uint32{40}, Ports: []PortRange{{0x2f8, 8}}}},
	}}}
	rep := m.Validate(Limits{})
	err := rep.Err()
	if !errors.Is(err, ErrIRQInUse) || err.Error() != `vm "a": devices[0].irqs[0]: INTID 40 is already the console's interrupt` {
		t.Errorf("rejection %v", err)
	}
}
