// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// example is a valid manifest using every field.
const example = `{
  "vms": [
    {
      "name": "linux", "id": 1,
      "vcpus": [ {"cpu": 0}, {"cpu": "1"} ],
      "memory": {"base": "0x40000000", "size": "256M"},
      "kernel": "Image", "initrd": "initramfs.cpio.gz",
      "cmdline": "console=ttyAMA0 earlycon=pl011,0x09000000 rdinit=/init",
      "console": {"base": "0x09000000", "irq": 33},
      "devices": [
        {"name": "uart1", "base": "0x09040000", "size": "0x1000", "irqs": [40]},
        {"name": "rtc", "base": "0x0a000000", "size": "4K", "pa": "0x09010000", "irqs": ["0x22", 35]}
      ],
      "autostart": true
    },
    {
      "name": "test_guest-2", "id": 255,
      "vcpus": [ {"cpu": 1}, {"cpu": 1} ],
      "memory": {"base": 1073741824, "size": "1M"},
      "kernel": "testguest.elf"
    }
  ]
}`

func exampleManifest() *Manifest {
	return &Manifest{VMs: []*VM{
		{
			Name: "linux", ID: 1,
			VCPUs:   []VCPU{{0}, {1}},
			Memory:  Memory{Base: 0x4000_0000, Size: 256 << 20},
			Kernel:  "Image",
			Initrd:  "initramfs.cpio.gz",
			Cmdline: "console=ttyAMA0 earlycon=pl011,0x09000000 rdinit=/init",
			Console: &Console{Base: 0x0900_0000, IRQ: 33},
			Devices: []Device{
				{Name: "uart1", Base: 0x0904_0000, Size: 0x1000, PA: 0x0904_0000, IRQs: []uint32{40}},
				{Name: "rtc", Base: 0x0a00_0000, Size: 0x1000, PA: 0x0901_0000, IRQs: []uint32{34, 35}},
			},
			Autostart: true,
		},
		{
			Name: "test_guest-2", ID: 255,
			VCPUs:  []VCPU{{1}, {1}},
			Memory: Memory{Base: 0x4000_0000, Size: 1 << 20},
			Kernel: "testguest.elf",
		},
	}}
}

func TestParseValid(t *testing.T) {
	m, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if want := exampleManifest(); !reflect.DeepEqual(m, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", m, want)
	}
	if m.VM("linux") != m.VMs[0] || m.VM("nope") != nil {
		t.Error("Manifest.VM lookup")
	}
	if got := m.VMs[0].Memory.End(); got != 0x5000_0000 {
		t.Errorf("Memory.End = %v", got)
	}
}

func TestParseEmptyVMList(t *testing.T) {
	m, err := Parse([]byte(` {"vms": []} `))
	if err != nil || len(m.VMs) != 0 {
		t.Fatalf("Parse = %v, %v", m, err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	m := exampleManifest()
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Encode()): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, m)
	}
	if !strings.Contains(string(out), `"base": "0x40000000"`) {
		t.Errorf("Encode does not write hex addresses:\n%s", out)
	}
}

// TestKnownKeys checks that the key table the scanner uses matches the
// json tags of the raw types.
func TestKnownKeys(t *testing.T) {
	types := map[string]reflect.Type{
		"":                        reflect.TypeFor[rawManifest](),
		"vms[]":                   reflect.TypeFor[rawVM](),
		"vms[].vcpus[]":           reflect.TypeFor[rawVCPU](),
		"vms[].memory":            reflect.TypeFor[rawMemory](),
		"vms[].console":           reflect.TypeFor[rawConsole](),
		"vms[].devices[]":         reflect.TypeFor[rawDevice](),
		"vms[].devices[].ports[]": reflect.TypeFor[rawPortRange](),
	}
	if len(types) != len(knownKeys) {
		t.Fatalf("knownKeys has %d paths, want %d", len(knownKeys), len(types))
	}
	for path, typ := range types {
		var tags []string
		for i := 0; i < typ.NumField(); i++ {
			tags = append(tags, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
		}
		if !reflect.DeepEqual(tags, knownKeys[path]) {
			t.Errorf("knownKeys[%q] = %v, json tags are %v", path, knownKeys[path], tags)
		}
	}
}

// okVM is a minimal valid VM; vm() edits its fields.
const okVM = `{"name":"t","id":1,"vcpus":[{"cpu":0}],"memory":{"base":"0x40000000","size":"64M"},"kernel":"k"}`

// vm returns okVM with field set to the JSON value (or deleted when value
// is empty), wrapped in a manifest.
func vm(t *testing.T, field, value string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(okVM), &m); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(m, field)
	} else {
		m[field] = json.RawMessage(value)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return `{"vms":[` + string(out) + `]}`
}

func TestParseErrors(t *testing.T) {
	many := func(elem string, n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]"
	}
	dev := func(s string) string { return `[` + s + `]` }
	cases := []struct {
		name string
		in   string
		kind error
		msg  string // substring of the error text
	}{
		// Whole-document problems.
		{"too large", `{"vms":[]}` + strings.Repeat(" ", MaxSize), ErrTooLarge, "at most 65536"},
		{"empty", ``, ErrSyntax, "empty input"},
		{"syntax", "{\n  \"vms\": [}\n", ErrSyntax, "manifest: line 2 col 11: invalid character '}'"},
		{"truncated", `{"vms":[`, ErrSyntax, "unexpected end"},
		{"array top", `[]`, ErrType, "must be a JSON object"},
		{"scalar top", `42`, ErrType, "must be a JSON object"},
		{"trailing data", `{"vms":[]} {}`, ErrSyntax, "data after the manifest"},
		{"trailing junk", `{"vms":[]} x`, ErrSyntax, "invalid character 'x'"},
		{"unknown top", `{"vms":[],"vm":[]}`, ErrUnknownField, "vm: line 1 col 11: unknown field (known: vms)"},
		{"unknown vm field", vm(t, "autostrat", "true"), ErrUnknownField, "vms[0].autostrat"},
		{"unknown memory field", vm(t, "memory", `{"base":0,"size":"1M","sz":1}`), ErrUnknownField, "vms[0].memory.sz"},
		{"unknown device field", vm(t, "devices", `[{"name":"d","base":0,"size":4096,"irq":40}]`), ErrUnknownField, "vms[0].devices[0].irq"},
		{"repeated key", `{"vms":[{"name":"a","name":"b"}]}`, ErrDuplicateKey, "vms[0].name: line 1 col 21: key repeated"},
		{"wrong type", vm(t, "kernel", `42`), ErrType, "want a string, got number"},
		{"wrong type bool", vm(t, "autostart", `"yes"`), ErrType, "want true or false"},
		{"vms missing", `{}`, ErrMissing, "manifest: vms: missing"},
		{"vms null", `{"vms":null}`, ErrMissing, "vms: missing"},
		{"too many vms", `{"vms":` + many(okVM, MaxVMs+1) + `}`, ErrCount, "17 VMs, at most 16"},

		// Names and ids.
		{"name missing", vm(t, "name", ""), ErrMissing, "vms[0]: name: missing"},
		{"name chars", vm(t, "name", `"my vm"`), ErrName, `vms[0]: name: "my vm": want 1..32 characters`},
		{"name long", vm(t, "name", `"`+strings.Repeat("a", 33)+`"`), ErrName, "vms[0]: name"},
		{"name unicode", vm(t, "name", `"vmé"`), ErrName, "vms[0]: name"},
		{"id missing", vm(t, "id", ""), ErrMissing, `vm "t": id: missing`},
		{"id zero", vm(t, "id", "0"), ErrRange, `vm "t": id: 0 is not in 1..255`},
		{"id big", vm(t, "id", `"256"`), ErrRange, "256 is not in 1..255"},
		{"id negative", vm(t, "id", "-1"), ErrNumber, `vm "t": id: -1: want a non-negative integer`},
		{"id float", vm(t, "id", "1.0"), ErrNumber, "id"},
		{"id junk", vm(t, "id", `"one"`), ErrNumber, `"one": want a decimal or 0x-prefixed integer`},

		// vCPUs.
		{"no vcpus", vm(t, "vcpus", "[]"), ErrCount, `vm "t": vcpus: at least one vCPU`},
		{"vcpus missing", vm(t, "vcpus", ""), ErrCount, "vcpus"},
		{"too many vcpus", vm(t, "vcpus", many(`{"cpu":0}`, MaxVCPUs+1)), ErrCount, "9 vCPUs, at most 8"},
		{"cpu missing", vm(t, "vcpus", `[{"cpu":0},{}]`), ErrMissing, `vm "t": vcpus[1].cpu: missing`},
		{"cpu huge", vm(t, "vcpus", `[{"cpu":"1K"}]`), ErrRange, "vcpus[0].cpu: 1024 is above"},

		// Memory.
		{"memory missing", vm(t, "memory", ""), ErrMissing, `vm "t": memory: missing`},
		{"memory size missing", vm(t, "memory", `{"base":0}`), ErrMissing, "memory.size: missing"},
		{"memory base unaligned", vm(t, "memory", `{"base":"0x40000800","size":"1M"}`), ErrAlign, `vm "t": memory.base: 0x40000800 is not a multiple of 0x1000`},
		{"memory size unaligned", vm(t, "memory", `{"base":0,"size":"0x100800"}`), ErrAlign, "memory.size"},
		{"memory small", vm(t, "memory", `{"base":0,"size":"1020K"}`), ErrRange, "memory.size: 0xff000 is smaller than the minimum 0x100000"},
		{"memory wraps", vm(t, "memory", `{"base":"0xfffffffffff00000","size":"2M"}`), ErrRange, "ends beyond the 48-bit"},
		{"memory above 48 bits", vm(t, "memory", `{"base":"0xffffffff00000","size":"2M"}`), ErrRange, "memory: base"},
		{"memory bad number", vm(t, "memory", `{"base":0,"size":"64MB"}`), ErrNumber, `memory.size: "64MB"`},

		// Strings.
		{"kernel missing", vm(t, "kernel", ""), ErrMissing, `vm "t": kernel: missing`},
		{"kernel empty", vm(t, "kernel", `""`), ErrMissing, "kernel: missing"},
		{"kernel control char", vm(t, "kernel", `"a\nb"`), ErrString, "kernel: byte 0x0a at offset 1"},
		{"initrd long", vm(t, "initrd", `"`+strings.Repeat("i", MaxPathLen+1)+`"`), ErrString, "initrd: 256 bytes, at most 255"},
		{"cmdline nul", vm(t, "cmdline", `"a\u0000"`), ErrString, "cmdline: byte 0x00"},
		{"cmdline long", vm(t, "cmdline", `"`+strings.Repeat("c", MaxCmdlineLen+1)+`"`), ErrString, "cmdline: 2049 bytes"},

		// Console.
		{"console unaligned", vm(t, "console", `{"base":"0x9000010","irq":33}`), ErrAlign, `vm "t": console.base: 0x9000010 is not a multiple`},
		{"console base missing", vm(t, "console", `{"irq":33}`), ErrMissing, "console.base: missing"},
		{"console irq missing", vm(t, "console", `{"base":0}`), ErrMissing, "console.irq: missing"},
		{"console irq sgi", vm(t, "console", `{"base":0,"irq":15}`), ErrIRQ, "console.irq: 15 is not an SPI INTID (32..1019)"},
		{"console irq special", vm(t, "console", `{"base":0,"irq":1020}`), ErrIRQ, "console.irq: 1020"},
		{"console top", vm(t, "console", `{"base":"0xfffffffffffff000","irq":33}`), ErrRange, "console: base"},

		// Devices.
		{"too many devices", vm(t, "devices", many(`{"name":"d","base":0,"size":4096}`, MaxDevices+1)), ErrCount, "17 devices, at most 16"},
		{"device name missing", vm(t, "devices", dev(`{"base":0,"size":4096}`)), ErrMissing, `vm "t": devices[0].name: missing`},
		{"device name bad", vm(t, "devices", dev(`{"name":"a/b","base":0,"size":4096}`)), ErrName, "devices[0].name"},
		{"device name twice", vm(t, "devices", `[{"name":"d","base":0,"size":4096},{"name":"d","base":"8K","size":4096}]`), ErrName, `devices[1].name: "d" is already the name of devices[0]`},
		{"device size missing", vm(t, "devices", dev(`{"name":"d","base":0}`)), ErrMissing, "devices[0].size: missing"},
		{"device size zero", vm(t, "devices", dev(`{"name":"d","base":0,"size":0}`)), ErrRange, "devices[0].size: 0x0 is smaller than the minimum 0x1000"},
		{"device base unaligned", vm(t, "devices", dev(`{"name":"d","base":"0x10","size":4096}`)), ErrAlign, "devices[0].base"},
		{"device size unaligned", vm(t, "devices", dev(`{"name":"d","base":0,"size":"0x1800"}`)), ErrAlign, "devices[0].size"},
		{"device pa unaligned", vm(t, "devices", dev(`{"name":"d","base":0,"size":4096,"pa":"0x9000001"}`)), ErrAlign, "devices[0].pa: 0x9000001"},
		{"device pa wraps", vm(t, "devices", dev(`{"name":"d","base":0,"size":"8K","pa":"0xfffffffffffff000"}`)), ErrRange, "devices[0].pa: pa 0xfffffffffffff000"},
		{"device wraps", vm(t, "devices", dev(`{"name":"d","base":"0xfffffffffffff000","size":"8K"}`)), ErrRange, "devices[0]: base"},
		{"device irq ppi", vm(t, "devices", dev(`{"name":"d","base":0,"size":4096,"irqs":[40,27]}`)), ErrIRQ, "devices[0].irqs[1]: 27 is not an SPI"},
		{"device irq bad", vm(t, "devices", dev(`{"name":"d","base":0,"size":4096,"irqs":[null]}`)), ErrMissing, "devices[0].irqs[0]: missing"},
		{"device too many irqs", vm(t, "devices", dev(`{"name":"d","base":0,"size":4096,"irqs":`+many("40", MaxDeviceIRQs+1)+`}`)), ErrCount, "devices[0].irqs: 17 interrupts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", m)
			}
			if m != nil {
				t.Errorf("Parse returned a manifest with an error")
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %q holds no *FieldError", err)
			}
		})
	}
}

// TestParseAllProblems checks that Parse reports every field problem of
// a manifest at once, and caps the list.
func TestParseAllProblems(t *testing.T) {
	in := `{"vms":[{"name":"a b","id":0,"vcpus":[],"memory":{"base":1,"size":1},"kernel":""}]}`
	_, err := Parse([]byte(in))
	for _, kind := range []error{ErrName, ErrRange, ErrCount, ErrAlign, ErrMissing} {
		if !errors.Is(err, kind) {
			t.Errorf("%v missing from %q", kind, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 7 {
		t.Errorf("%d problems, want 7:\n%v", n, err)
	}

	var b strings.Builder
	b.WriteString(`{"vms":[`)
	for i := 0; i < MaxVMs; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"name":"a b","id":0,"vcpus":[],"memory":{"base":1,"size":1},"kernel":""}`)
	}
	b.WriteString(`]}`)
	_, err = Parse([]byte(b.String()))
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxProblems+1 || !strings.Contains(lines[maxProblems], "more problems not shown") {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestFieldErrorText(t *testing.T) {
	e := &FieldError{VM: `vm "linux"`, Field: "memory", Msg: "[0x40000000,0x50000000) overlaps console [0x40000000,0x40001000)", Kind: ErrOverlap}
	if got, want := e.Error(), `vm "linux": memory: [0x40000000,0x50000000) overlaps console [0x40000000,0x40001000)`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(e, ErrOverlap) {
		t.Error("errors.Is")
	}
	e = &FieldError{Msg: "x", Kind: ErrSyntax}
	if got := e.Error(); got != "manifest: x" {
		t.Errorf("got %q", got)
	}
}

var _ = hv.PageSize
