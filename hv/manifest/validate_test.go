// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv"
)

// images is a fake image store for Limits.ImageSize.
var images = map[string]int64{
	"k":      1 << 20,
	"k2":     2 << 20,
	"initrd": 4 << 20,
	"big":    65 << 20,
	"empty":  0,
	"bad":    100,
}

// qemuLimits are limits like the hypervisor's on qemu-virt-arm64 with
// two CPUs.
func qemuLimits() Limits {
	return Limits{
		CPUs:     2,
		GuestRAM: 512 << 20,
		ImageSize: func(name string) (int64, bool) {
			s, ok := images[name]
			return s, ok
		},
		CheckKernel: func(name string) error {
			if name == "bad" {
				return errors.New("loader: unknown image format")
			}
			return nil
		},
		Reserved:     []Window{{Name: "vgic", Base: 0x0800_0000, Size: 0x100_0000}},
		HostReserved: []hv.Region{{Name: "uart0", Kind: hv.MMIO, Base: 0x0900_0000, Size: 0x1000}, {Name: "hv-ram", Kind: hv.RAM, Base: 0x4000_0000, Size: 256 << 20}},
		HostIRQs:     []uint32{33},
	}
}

// v returns the JSON of a valid VM called name with the given id,
// changed by field/value pairs (an empty value deletes the field).
func v(t *testing.T, name string, id int, kv ...string) string {
	t.Helper()
	m := map[string]json.RawMessage{
		"name":    json.RawMessage(fmt.Sprintf("%q", name)),
		"id":      json.RawMessage(fmt.Sprint(id)),
		"vcpus":   json.RawMessage(`[{"cpu":0},{"cpu":1}]`),
		"memory":  json.RawMessage(`{"base":"0x40000000","size":"64M"}`),
		"kernel":  json.RawMessage(`"k"`),
		"console": json.RawMessage(`{"base":"0x09000000","irq":33}`),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = json.RawMessage(kv[i+1])
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func parseVMs(t *testing.T, vms ...string) *Manifest {
	t.Helper()
	m, err := Parse([]byte(`{"vms":[` + strings.Join(vms, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// want is the expected fate of one VM: "" for valid, else the text the
// rejection must contain; kinds are the sentinels it must wrap.
type want struct {
	msg   string
	kinds []error
}

func checkReport(t *testing.T, m *Manifest, rep *Report, wants map[string]want) {
	t.Helper()
	if len(rep.Valid)+len(rep.Rejected) != len(m.VMs) {
		t.Errorf("%d valid + %d rejected != %d VMs", len(rep.Valid), len(rep.Rejected), len(m.VMs))
	}
	var ram uint64
	for _, vm := range rep.Valid {
		ram += vm.Memory.Size
		if w, ok := wants[vm.Name]; !ok || w.msg != "" {
			t.Errorf("%s accepted, want rejected with %q", vm.Label(), w.msg)
		}
	}
	if ram != rep.RAM {
		t.Errorf("Report.RAM = %#x, want %#x", rep.RAM, ram)
	}
	for _, r := range rep.Rejected {
		w := wants[r.VM.Name]
		if w.msg == "" {
			t.Errorf("%s rejected: %v", r.VM.Label(), r.Err)
			continue
		}
		if !strings.Contains(r.Error(), w.msg) {
			t.Errorf("%s rejected with\n%v\nwant text %q", r.VM.Label(), r.Err, w.msg)
		}
		for _, k := range w.kinds {
			if !errors.Is(r.Err, k) {
				t.Errorf("%s: rejection %q is not %v", r.VM.Label(), r.Err, k)
			}
		}
		if !strings.HasPrefix(r.Error(), r.VM.Label()+": ") {
			t.Errorf("rejection %q does not start with the VM's label", r.Error())
		}
	}
	if (rep.Err() == nil) != (len(rep.Rejected) == 0) {
		t.Errorf("Report.Err = %v with %d rejections", rep.Err(), len(rep.Rejected))
	}
}

func TestValidate(t *testing.T) {
	ok := want{}
	rej := func(msg string, kinds ...error) want { return want{msg, kinds} }
	dev := func(name, base, pa string, irqs string) string {
		return fmt.Sprintf(`{"name":%q,"base":%q,"size":"4K","pa":%q,"irqs":%s}`, name, base, pa, irqs)
	}
	cases := []struct {
		name  string
		vms   []string
		lim   func(*Limits)
		wants map[string]want
	}{
		{"valid: same IPA layout and console IRQ in two VMs",
			[]string{v(t, "a", 1), v(t, "b", 2, "initrd", `"initrd"`)}, nil,
			map[string]want{"a": ok, "b": ok}},
		{"vCPU on a missing CPU",
			[]string{v(t, "a", 1, "vcpus", `[{"cpu":0},{"cpu":2}]`), v(t, "b", 2)}, nil,
			map[string]want{"a": rej(`vm "a": vcpus[1].cpu: CPU 2 does not exist: the machine has 2 CPUs (0..1)`, ErrNoCPU), "b": ok}},
		{"more vCPUs than CPUs is fine while each is pinned to a real one",
			[]string{v(t, "a", 1, "vcpus", `[{"cpu":0},{"cpu":1},{"cpu":1},{"cpu":0}]`)}, nil,
			map[string]want{"a": ok}},
		{"memory overlaps console",
			[]string{v(t, "a", 1, "memory", `{"base":"0x08000000","size":"256M"}`, "console", `{"base":"0x10000000","irq":33}`),
				v(t, "b", 2, "console", `{"base":"0x40000000","irq":33}`)},
			func(l *Limits) { l.Reserved = nil },
			map[string]want{
				"a": rej(`vm "a": console: [0x10000000,0x10001000) overlaps memory [0x8000000,0x18000000)`, ErrOverlap),
				"b": rej(`vm "b": console: [0x40000000,0x40001000) overlaps memory [0x40000000,0x44000000)`, ErrOverlap)}},
		{"device overlaps memory and another device",
			[]string{v(t, "a", 1, "devices", `[`+dev("d0", "0x43fff000", "0x20000000", "[]")+`,`+dev("d1", "0x43fff000", "0x20001000", "[]")+`]`)}, nil,
			map[string]want{"a": rej(`vm "a": devices[1]: [0x43fff000,0x44000000) overlaps device "d0" [0x43fff000,0x44000000)`, ErrOverlap)}},
		{"reserved vGIC window",
			[]string{v(t, "a", 1, "console", `{"base":"0x08fff000","irq":33}`), v(t, "b", 2, "memory", `{"base":"0x07f00000","size":"2M"}`)}, nil,
			map[string]want{
				"a": rej(`vm "a": console: [0x8fff000,0x9000000) overlaps the hypervisor's vgic window [0x8000000,0x9000000)`, ErrReserved),
				"b": rej(`vm "b": memory: [0x7f00000,0x8100000) overlaps the hypervisor's vgic window`, ErrReserved)}},
		{"IPA size",
			[]string{v(t, "a", 1, "memory", `{"base":"0xfff00000000","size":"1M"}`), v(t, "b", 2, "memory", `{"base":"0xfff00000","size":"1M"}`)},
			func(l *Limits) { l.IPABits = 40 },
			map[string]want{"a": rej(`vm "a": memory: [0xfff00000000,0xfff00100000) ends beyond the 40-bit guest-physical address space`, ErrRange), "b": ok}},
		{"duplicate id: the later VM is rejected (names: TestValidateDuplicateName)",
			[]string{v(t, "a", 1), v(t, "b", 2), v(t, "c", 2)}, nil,
			map[string]want{"a": ok, "b": ok,
				"c": rej(`vm "c": id: 2 is already the id of vm "b"`, ErrDuplicateID)}},
		{"a rejected VM still owns its name and id",
			[]string{v(t, "a", 1, "kernel", `"missing"`), v(t, "b", 1)}, nil,
			map[string]want{"a": rej(`vm "a": kernel: image "missing" not found`, ErrImageMissing),
				"b": rej(`vm "b": id: 1 is already the id of vm "a"`, ErrDuplicateID)}},
		{"passthrough range: the first VM keeps it",
			[]string{v(t, "a", 1, "devices", `[`+dev("uart1", "0x09040000", "0x09040000", "[40]")+`]`),
				v(t, "b", 2, "devices", `[`+dev("uart", "0x0a000000", "0x09040000", "[41]")+`]`),
				v(t, "c", 3, "devices", `[`+dev("uart1", "0x09040000", "0x09050000", "[40]")+`]`)}, nil,
			map[string]want{"a": ok,
				"b": rej(`vm "b": devices[0].pa: [0x9040000,0x9041000) is already passed through to vm "a" (device "uart1" at [0x9040000,0x9041000))`, ErrPAInUse),
				"c": rej(`vm "c": devices[0].irqs[0]: INTID 40 is already routed to vm "a" (device "uart1")`, ErrIRQInUse)}},
		{"a rejected VM claims no host resources",
			[]string{v(t, "a", 1, "kernel", `"empty"`, "devices", `[`+dev("uart1", "0x09040000", "0x09040000", "[40]")+`]`),
				v(t, "b", 2, "devices", `[`+dev("uart1", "0x09040000", "0x09040000", "[40]")+`]`)}, nil,
			map[string]want{"a": rej(`vm "a": kernel: image "empty" is empty`, ErrImageEmpty), "b": ok}},
		{"interrupts inside one VM",
			[]string{v(t, "a", 1, "devices", `[`+dev("d", "0x0a000000", "0x0a000000", "[40,33]")+`]`),
				v(t, "b", 2, "devices", `[`+dev("d", "0x0a000000", "0x0a000000", "[40]")+`,`+dev("e", "0x0a001000", "0x0a001000", "[41,40]")+`]`)}, nil,
			map[string]want{
				"a": rej(`vm "a": devices[0].irqs[1]: INTID 33 is already the console's interrupt`, ErrIRQInUse),
				"b": rej(`vm "b": devices[1].irqs[1]: INTID 40 is already an interrupt of device "d"`, ErrIRQInUse)}},
		{"host-physical overlap inside one VM",
			[]string{v(t, "a", 1, "devices", `[`+dev("d", "0x0a000000", "0x0c000000", "[]")+`,`+dev("e", "0x0b000000", "0x0c000000", "[]")+`]`)}, nil,
			map[string]want{"a": rej(`vm "a": devices[1].pa: [0xc000000,0xc001000) overlaps the host range [0xc000000,0xc001000) of device "d"`, ErrPAInUse)}},
		{"resources the hypervisor keeps",
			[]string{v(t, "a", 1, "devices", `[`+dev("uart0", "0x0a000000", "0x09000000", "[]")+`]`),
				v(t, "b", 2, "devices", `[`+dev("ram", "0x0a000000", "0x4ffff000", "[]")+`]`),
				v(t, "c", 3, "console", "", "devices", `[`+dev("uart0", "0x0a000000", "0x0a000000", "[33]")+`]`)}, nil,
			map[string]want{
				"a": rej(`vm "a": devices[0].pa: [0x9000000,0x9001000) overlaps the hypervisor's uart0 [0x9000000,0x9001000)`, ErrHostReserved),
				"b": rej(`vm "b": devices[0].pa: [0x4ffff000,0x50000000) overlaps the hypervisor's hv-ram`, ErrHostReserved),
				"c": rej(`vm "c": devices[0].irqs[0]: INTID 33 belongs to the hypervisor`, ErrHostReserved)}},
		{"images",
			[]string{v(t, "a", 1, "kernel", `"nope"`), v(t, "b", 2, "initrd", `"nope"`), v(t, "c", 3, "initrd", `"empty"`),
				v(t, "d", 4, "kernel", `"big"`), v(t, "e", 5, "kernel", `"bad"`), v(t, "f", 6, "kernel", `"k2"`, "initrd", `"initrd"`)}, nil,
			map[string]want{
				"a": rej(`vm "a": kernel: image "nope" not found`, ErrImageMissing),
				"b": rej(`vm "b": initrd: image "nope" not found`, ErrImageMissing),
				"c": rej(`vm "c": initrd: image "empty" is empty`, ErrImageEmpty),
				"d": rej(`vm "d": memory: size 0x4000000 is smaller than the kernel and initrd together (0x4100000 bytes)`, ErrImageTooLarge),
				"e": rej(`vm "e": kernel: image "bad": loader: unknown image format`, ErrBadImage),
				"f": ok}},
		{"guest RAM budget in file order",
			[]string{v(t, "a", 1, "memory", `{"base":"0x40000000","size":"256M"}`), v(t, "b", 2, "memory", `{"base":"0x40000000","size":"192M"}`),
				v(t, "c", 3, "memory", `{"base":"0x40000000","size":"128M"}`), v(t, "d", 4)}, nil,
			map[string]want{"a": ok, "b": ok,
				"c": rej(`vm "c": memory: size 0x8000000 does not fit: 0x4000000 of the 0x20000000 bytes of guest RAM are left after the VMs before it`, ErrNoHostRAM),
				"d": ok}},
		{"every problem of a VM is reported",
			[]string{v(t, "a", 1, "vcpus", `[{"cpu":5}]`, "kernel", `"nope"`, "console", `{"base":"0x40000000","irq":33}`)}, nil,
			map[string]want{"a": rej(`vm "a": vcpus[0].cpu`, ErrNoCPU, ErrImageMissing, ErrOverlap)}},
		{"zero limits check only the manifest itself",
			[]string{v(t, "a", 1, "vcpus", `[{"cpu":77}]`, "kernel", `"nope"`, "memory", `{"base":"0x40000000","size":"4G"}`),
				v(t, "b", 2, "console", `{"base":"0x08000000","irq":33}`)},
			func(l *Limits) { *l = Limits{} },
			map[string]want{"a": ok, "b": ok}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := parseVMs(t, tc.vms...)
			lim := qemuLimits()
			if tc.lim != nil {
				tc.lim(&lim)
			}
			checkReport(t, m, m.Validate(lim), tc.wants)
		})
	}
}

func TestValidateDuplicateName(t *testing.T) {
	m := parseVMs(t, v(t, "a", 1), v(t, "a", 2))
	rep := m.Validate(qemuLimits())
	if len(rep.Valid) != 1 || rep.Valid[0] != m.VMs[0] || len(rep.Rejected) != 1 || rep.Rejected[0].VM != m.VMs[1] {
		t.Fatalf("report %+v", rep)
	}
	err := rep.Rejected[0].Err
	if !errors.Is(err, ErrDuplicateName) || err.Error() != `vm "a": name: "a" is already the name of an earlier VM (id 1)` {
		t.Errorf("rejection %q", err)
	}
}

// TestValidateOddManifests checks that Validate copes with manifests
// that did not come from Parse.
func TestValidateOddManifests(t *testing.T) {
	m := &Manifest{VMs: []*VM{
		nil,
		{Name: "wrap", Memory: Memory{Base: 0xffff_ffff_ffff_f000, Size: 0x2000}, Console: &Console{}, VCPUs: []VCPU{{-1}}},
		{},
	}}
	rep := m.Validate(qemuLimits())
	if len(rep.Valid) != 0 || len(rep.Rejected) != 3 {
		t.Fatalf("report %+v", rep)
	}
	if !errors.Is(rep.Rejected[0].Err, ErrMissing) {
		t.Errorf("nil VM: %v", rep.Rejected[0].Err)
	}
}

// ExampleManifest_Validate shows how the hypervisor starts what it can.
func ExampleManifest_Validate() {
	m, err := Parse([]byte(`{"vms": [
	  {"name": "linux", "id": 1, "vcpus": [{"cpu": 0}, {"cpu": 1}],
	   "memory": {"base": "0x40000000", "size": "256M"}, "kernel": "Image",
	   "console": {"base": "0x09000000", "irq": 33}, "autostart": true},
	  {"name": "rtos", "id": 2, "vcpus": [{"cpu": 2}],
	   "memory": {"base": "0x40000000", "size": "16M"}, "kernel": "rtos.elf"}
	]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	rep := m.Validate(Limits{CPUs: 2, GuestRAM: 768 << 20})
	for _, vm := range rep.Valid {
		fmt.Println("start", vm.Name)
	}
	for _, r := range rep.Rejected {
		fmt.Println(r.Err)
	}
	// Output:
	// start linux
	// vm "rtos": vcpus[0].cpu: CPU 2 does not exist: the machine has 2 CPUs (0..1)
}
