// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

package ci_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/ci/qemu"
)

// TestMain prints one line saying which boards the image tests cover and
// whether each can run here.
func TestMain(m *testing.M) {
	var s []string
	for _, b := range qemu.Boards() {
		state := "ready"
		if _, err := qemu.Preflight(b); errors.Is(err, qemu.ErrNoImage) {
			state = "no image"
		} else if errors.Is(err, qemu.ErrNoQEMU) {
			state = "no " + b.QEMU
		} else if err != nil {
			state = err.Error()
		}
		s = append(s, fmt.Sprintf("%s [%s]", b.Name, state))
	}
	fmt.Printf("ci: image tests for %s\n", strings.Join(s, ", "))
	os.Exit(m.Run())
}

// info is the output of "info --json".
type info struct {
	Version       string            `json:"version"`
	Revision      string            `json:"revision"`
	Board         string            `json:"board"`
	Arch          string            `json:"arch"`
	Mode          string            `json:"mode"`
	CPUs          int               `json:"cpus"`
	RAM           []region          `json:"ram"`
	HypervisorRAM region            `json:"hypervisor_ram"`
	MemoryMap     []mapEntry        `json:"memory_map"`
	Features      map[string]bool   `json:"features"`
	Details       map[string]string `json:"details"`
	UptimeNS      uint64            `json:"uptime_ns"`
	Boot          *bootInfo         `json:"boot"`
}

type bootInfo struct {
	Protocol         string   `json:"protocol"`
	Loader           string   `json:"loader"`
	Cmdline          string   `json:"cmdline"`
	LinkBase         uint64   `json:"link_base"`
	LoadBase         uint64   `json:"load_base"`
	Offset           int64    `json:"offset"`
	ExitBootServices string   `json:"exit_boot_services"`
	ACPIRoot         uint64   `json:"acpi_root"`
	Errors           []string `json:"errors"`
	Modules          []struct {
		Name string `json:"name"`
		Base uint64 `json:"base"`
		Size uint64 `json:"size"`
	} `json:"modules"`
}

type region struct {
	Base uint64 `json:"base"`
	Size uint64 `json:"size"`
}

func (r region) String() string { return fmt.Sprintf("[%#x, +%#x)", r.Base, r.Size) }

// end returns the first address after r, and false if r wraps around.
func (r region) end() (uint64, bool) {
	e := r.Base + r.Size
	return e, e >= r.Base
}

// contains reports whether r holds all of o.
func (r region) contains(o region) bool {
	re, ok1 := r.end()
	oe, ok2 := o.end()
	return ok1 && ok2 && o.Base >= r.Base && oe <= re
}

type mapEntry struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Base uint64 `json:"base"`
	Size uint64 `json:"size"`
}

const (
	bootTimeout = 30 * time.Second // QEMU start to the board line
	// firmwareBootTimeout: through SeaBIOS or OVMF and GRUB under TCG.
	firmwareBootTimeout = 150 * time.Second
	cmdTimeout          = 10 * time.Second // one shell command
	offTimeout          = 20 * time.Second // poweroff to QEMU exit
	prompt              = `tamavisor> `
	fourGiB             = 1 << 32
)

// amd64 boot paths (README "Booting"): the GRUB ISO built by make iso,
// with a menu entry chosen through an SMBIOS serial string
// (ci/grub/grub.cfg), and the UEFI ESP image built by make efi.
const (
	isoFile  = "build/tamavisor.iso"
	espFile  = "build/esp.img"
	ovmf     = "/usr/share/ovmf/OVMF.fd"
	linkBase = 0x1000_0000 // Makefile TEXT_qemu-q35-amd64 - 0x1000
)

func grubEntry(id string) []string {
	return []string{"-smbios", "type=1,serial=tamavisor-entry=" + id}
}

// bootWant is what `info --json` must say about the boot path.
type bootWant struct {
	protocol string
	ebs      string // exit_boot_services
	// load checks the load base; nil accepts any 2 MiB-aligned base.
	load func(base uint64) error
	// module: a boot module of this name must be listed.
	module string
}

func loadAt(want uint64) func(uint64) error {
	return func(b uint64) error {
		if b != want {
			return fmt.Errorf("load base %#x, want %#x", b, want)
		}
		return nil
	}
}

func loadAbove(min uint64) func(uint64) error {
	return func(b uint64) error {
		if b < min {
			return fmt.Errorf("load base %#x below %#x: the link range was not avoided", b, min)
		}
		return nil
	}
}

var bootCases = []struct {
	name  string
	board string
	opts  qemu.Options
	boot  *bootWant
}{
	{"qemu-virt-arm64", qemu.VirtARM64, qemu.Options{}, nil},
	{"qemu-virt-arm64-secure", qemu.VirtARM64, qemu.Options{Secure: true}, nil},
	{"qemu-q35-amd64", qemu.Q35AMD64, qemu.Options{}, &bootWant{protocol: "pvh", load: loadAt(linkBase)}},
	{"qemu-q35-amd64-grub-bios", qemu.Q35AMD64,
		qemu.Options{Media: "cdrom", ImageFile: isoFile, ExtraArgs: grubEntry("tamavisor"), Limit: 3 * time.Minute},
		&bootWant{protocol: "multiboot2", module: "manifest"}},
	{"qemu-q35-amd64-grub-bios-reloc-high", qemu.Q35AMD64,
		qemu.Options{Media: "cdrom", ImageFile: isoFile, ExtraArgs: grubEntry("reloc-high"), Limit: 3 * time.Minute},
		&bootWant{protocol: "multiboot2", load: loadAbove(linkBase + 256<<20), module: "manifest"}},
	{"qemu-q35-amd64-grub-bios-reloc-overlap", qemu.Q35AMD64,
		qemu.Options{Media: "cdrom", ImageFile: isoFile, ExtraArgs: grubEntry("reloc-overlap"), Limit: 3 * time.Minute},
		&bootWant{protocol: "multiboot2", load: loadAt(linkBase + 4<<20), module: "manifest"}},
	{"qemu-q35-amd64-grub-efi", qemu.Q35AMD64,
		qemu.Options{Media: "cdrom", ImageFile: isoFile, Firmware: ovmf, ExtraArgs: grubEntry("tamavisor"), Limit: 4 * time.Minute},
		&bootWant{protocol: "multiboot2-efi", ebs: "tamavisor", module: "manifest"}},
	{"qemu-q35-amd64-grub-efi-nobs", qemu.Q35AMD64,
		qemu.Options{Media: "cdrom", ImageFile: isoFile, Firmware: ovmf, ExtraArgs: grubEntry("nobs"), Limit: 4 * time.Minute},
		&bootWant{protocol: "multiboot2", ebs: "loader", module: "manifest"}},
	{"qemu-q35-amd64-uefi", qemu.Q35AMD64,
		qemu.Options{Media: "disk", ImageFile: espFile, Firmware: ovmf, Limit: 4 * time.Minute},
		&bootWant{protocol: "uefi", ebs: "tamavisor"}},
}

// checkBoot compares info's boot section with w.
func checkBoot(t *testing.T, w *bootWant, in *info) {
	t.Helper()
	b := in.Boot
	if b == nil {
		t.Errorf("info --json has no boot section")
		return
	}
	t.Logf("boot: %s via %q, link %#x load %#x (offset %+#x), exit boot services %q, %d modules",
		b.Protocol, b.Loader, b.LinkBase, b.LoadBase, b.Offset, b.ExitBootServices, len(b.Modules))
	if b.Protocol != w.protocol {
		t.Errorf("boot protocol %q, want %q", b.Protocol, w.protocol)
	}
	if b.ExitBootServices != w.ebs {
		t.Errorf("exit_boot_services %q, want %q", b.ExitBootServices, w.ebs)
	}
	if len(b.Errors) != 0 {
		t.Errorf("boot errors: %q", b.Errors)
	}
	if b.LinkBase != linkBase || int64(b.LoadBase-b.LinkBase) != b.Offset {
		t.Errorf("link_base %#x load_base %#x offset %#x inconsistent", b.LinkBase, b.LoadBase, b.Offset)
	}
	if b.LoadBase%(2<<20) != 0 {
		t.Errorf("load_base %#x not 2 MiB aligned", b.LoadBase)
	}
	if in.HypervisorRAM.Base != b.LoadBase {
		t.Errorf("hypervisor_ram at %#x, load_base %#x", in.HypervisorRAM.Base, b.LoadBase)
	}
	if w.load != nil {
		if err := w.load(b.LoadBase); err != nil {
			t.Error(err)
		}
	}
	if strings.HasPrefix(w.protocol, "multiboot2") && !strings.HasPrefix(b.Loader, "GRUB") {
		t.Errorf("loader %q, want GRUB", b.Loader)
	}
	if w.module != "" {
		found := false
		for _, m := range b.Modules {
			found = found || (m.Name == w.module && m.Size > 0)
		}
		if !found {
			t.Errorf("no module %q in %+v", w.module, b.Modules)
		}
		// examples/q35.json, parsed by the hypervisor from the module.
		if w.module == "manifest" && !strings.HasPrefix(in.Details["manifest"], "0 VMs from the boot module") {
			t.Errorf("details.manifest = %q", in.Details["manifest"])
		}
	}
	if b.ACPIRoot == 0 && b.Protocol != "pvh" {
		t.Errorf("no ACPI root table found")
	}
}

// TestBoot boots each tier-1 board, checks the banner and "info --json"
// against the board table, exercises the shell's error paths and powers
// off. The cases run one after another: a TCG guest wants a host core.
func TestBoot(t *testing.T) {
	for _, c := range bootCases {
		t.Run(c.name, func(t *testing.T) {
			b, err := qemu.Lookup(c.board)
			if err != nil {
				t.Fatal(err)
			}
			if b, err = b.With(c.opts); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			m := qemu.Boot(t, c.board, c.opts)
			s := &session{t: t, m: m}

			// 1. Banner, board, mode, prompt.
			bt := bootTimeout
			if c.opts.Media != "" {
				bt = firmwareBootTimeout
			}
			banner := s.line(`tamavisor (\S+) \(rev (\S+)\)`, bt)
			if got := s.line(`^board: (\S+)$`, bt)[1]; got != b.Name {
				t.Errorf("banner board = %q, want %q", got, b.Name)
			}
			mode := s.line(`^mode: (.+)$`, cmdTimeout)[1]
			checkMode(t, b, "banner", mode)
			if b.Arch == "amd64" {
				// W^X tables in use under every loader, relocated
				// loads included (the window maps elsewhere).
				s.line(`^wx: on: r-x \[0x`, bt)
			}
			if b.Arch == "amd64" && b.SMP > 1 {
				// The application processors start under every
				// loader (SeaBIOS/PVH, GRUB BIOS and EFI, UEFI).
				s.line(fmt.Sprintf(`^tamavisor: smp: %d of %d CPUs run guests`, b.SMP, b.SMP), bt)
			}
			s.prompt()
			t.Logf("%s: %s (rev %s), mode %q, prompt after %v",
				b.Variant(), banner[1], banner[2], mode, time.Since(start).Round(time.Millisecond))

			// 2. info --json. The shell echoes the command first.
			s.send("info --json")
			js := s.line(`^\{.*\}$`, cmdTimeout)[0]
			s.prompt()
			var in info
			if err := json.Unmarshal([]byte(js), &in); err != nil {
				t.Fatalf("info --json: %v in %q", err, js)
			}
			if in.Version != banner[1] || in.Revision != banner[2] {
				t.Errorf("info version %q rev %q, banner %q rev %q", in.Version, in.Revision, banner[1], banner[2])
			}
			checkInfo(t, b, &in)
			if c.boot != nil {
				checkBoot(t, c.boot, &in)
			}

			if b.Arch == "amd64" {
				checkWX(t, s)
			}

			// 3. Shell errors.
			s.send("bogus-command")
			s.line(`error: unknown command "bogus-command"`, cmdTimeout)
			s.prompt()
			s.sendRaw([]byte("\x01\x02\xff\r"))
			s.line(`error: ignoring non-text input`, cmdTimeout)
			s.prompt()
			s.send(strings.Repeat("x", 300))
			s.line(`error: line too long`, cmdTimeout)
			s.prompt()
			s.send("uptime")
			s.line(`\bup `, cmdTimeout)
			s.prompt()

			// 4. Clean poweroff.
			s.send("poweroff")
			code, err := m.Wait(offTimeout)
			if err != nil {
				t.Fatalf("poweroff: %v", err)
			}
			if code != b.PoweroffStatus {
				t.Errorf("poweroff: qemu exit status %d, want %d", code, b.PoweroffStatus)
			}
		})
	}
}

// session wraps a Machine so each step fails the test with context.
type session struct {
	t *testing.T
	m *qemu.Machine
}

func (s *session) line(re string, d time.Duration) []string {
	s.t.Helper()
	sub, err := s.m.ExpectLine(re, d)
	if err != nil {
		s.t.Fatal(err)
	}
	return sub
}

func (s *session) prompt() {
	s.t.Helper()
	if _, err := s.m.Expect(prompt, cmdTimeout); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) send(line string) {
	s.t.Helper()
	if err := s.m.Send(line); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) sendRaw(b []byte) {
	s.t.Helper()
	if err := s.m.SendRaw(b); err != nil {
		s.t.Fatal(err)
	}
}

func checkMode(t *testing.T, b qemu.Board, where, mode string) {
	t.Helper()
	want := map[string]string{"arm64": "EL2", "amd64": "long mode"}[b.Arch]
	if want == "" || !strings.Contains(mode, want) {
		t.Errorf("%s mode %q does not contain %q", where, mode, want)
	}
}

func checkInfo(t *testing.T, b qemu.Board, in *info) {
	t.Helper()
	if in.Board != b.Name {
		t.Errorf("info board = %q, want %q", in.Board, b.Name)
	}
	if in.Arch != b.Arch {
		t.Errorf("info arch = %q, want %q", in.Arch, b.Arch)
	}
	checkMode(t, b, "info", in.Mode)
	if in.CPUs != b.SMP {
		t.Errorf("info cpus = %d, want %d", in.CPUs, b.SMP)
	}
	if in.UptimeNS == 0 {
		t.Errorf("info uptime_ns = 0")
	}
	if in.Features == nil {
		t.Errorf("info features missing")
	}

	// RAM as QEMU configured it.
	var total uint64
	for _, r := range in.RAM {
		if _, ok := r.end(); !ok || r.Size == 0 {
			t.Errorf("info ram region %v is empty or wraps", r)
		}
		total += r.Size
	}
	switch b.Arch {
	case "arm64":
		want := region{b.RAMBase, b.RAMSize}
		found := false
		for _, r := range in.RAM {
			found = found || r == want
		}
		if !found {
			t.Errorf("info ram %v has no region %v", in.RAM, want)
		}
	case "amd64":
		// Firmware reserves some of low RAM, and QEMU puts RAM above
		// 4 GiB only when it does not fit below.
		low := region{0, b.RAMSize}
		for _, r := range in.RAM {
			if !low.contains(r) && r.Base < fourGiB {
				t.Errorf("info ram region %v is neither in %v nor above 4 GiB", r, low)
			}
		}
		if total > b.RAMSize || total <= b.RAMSize/2 {
			t.Errorf("info ram totals %#x, want in (%#x, %#x]", total, b.RAMSize/2, b.RAMSize)
		}
	}
	inRAM := false
	for _, r := range in.RAM {
		inRAM = inRAM || r.contains(in.HypervisorRAM)
	}
	if in.HypervisorRAM.Size == 0 || !inRAM {
		t.Errorf("info hypervisor_ram %v is not inside ram %v", in.HypervisorRAM, in.RAM)
	}

	switch b.Arch {
	case "arm64":
		// hw/arm/virt.c memmap: VIRT_UART, VIRT_GIC_DIST.
		for name, base := range map[string]uint64{"uart0": 0x09000000, "gicd": 0x08000000} {
			var e *mapEntry
			for i := range in.MemoryMap {
				if in.MemoryMap[i].Name == name {
					e = &in.MemoryMap[i]
				}
			}
			switch {
			case e == nil:
				t.Errorf("info memory_map has no %q", name)
			case e.Base != base:
				t.Errorf("info memory_map %q at %#x, want %#x", name, e.Base, base)
			}
		}
	case "amd64":
		for _, k := range []string{"svm", "npt", "vmx"} {
			if _, ok := in.Features[k]; !ok {
				t.Errorf("info features has no %q: %v", k, in.Features)
			}
		}
		// -cpu max under TCG has SVM with nested paging, not VMX.
		if !in.Features["svm"] || !in.Features["npt"] {
			t.Errorf("info features svm=%v npt=%v, want both true under -cpu max", in.Features["svm"], in.Features["npt"])
		}
	}
}

// TestEarlyBootError loads an image whose header lets GRUB place it at
// an offset that is not a multiple of 2 MiB (ci/grub/grub.cfg
// "misaligned"): cpuinit must refuse with its early error on COM1 and
// halt instead of running on page tables it cannot build.
func TestEarlyBootError(t *testing.T) {
	m := qemu.Boot(t, qemu.Q35AMD64, qemu.Options{Media: "cdrom", ImageFile: isoFile,
		ExtraArgs: grubEntry("misaligned"), Limit: 2 * time.Minute})
	s := &session{t: t, m: m}
	s.line(`^tamavisor: early boot error 1\r?$`, firmwareBootTimeout)
	if _, err := m.ExpectLine(`tamavisor \S+ \(rev`, 3*time.Second); err == nil {
		t.Error("the banner followed the early boot error")
	}
}

// wxReport is "wx probe --json" (cmd/tamavisor/wx_q35.go).
type wxReport struct {
	Enabled      bool              `json:"enabled"`
	NX           bool              `json:"nx"`
	Tables       int               `json:"tables"`
	Pages        map[string]uint64 `json:"pages"`
	WritableExec uint64            `json:"writable_exec"`
	ExecOutside  uint64            `json:"exec_outside"`
	Errors       []string          `json:"errors"`
	Probes       []struct {
		Name    string `json:"name"`
		Addr    uint64 `json:"addr"`
		Exec    bool   `json:"exec"`
		Faulted bool   `json:"faulted"`
		Error   uint64 `json:"pf_error"`
		CR2     uint64 `json:"cr2"`
		OK      bool   `json:"ok"`
	} `json:"probes"`
}

// checkWX requires W^X on amd64: the live tables check out (no page
// both writable and executable, nothing executable but the text and the
// patch arena), and each deliberate store to the text, the patch arena
// and rodata, and each instruction fetch from data and from the
// physmap alias of the text, takes a page fault with the error code
// and address W^X implies.
func checkWX(t *testing.T, s *session) {
	t.Helper()
	s.send("wx probe --json")
	js := s.line(`^\{"enabled".*\}$`, cmdTimeout)[0]
	s.prompt()
	var w wxReport
	if err := json.Unmarshal([]byte(js), &w); err != nil {
		t.Fatalf("wx probe --json: %v in %q", err, js)
	}
	if !w.Enabled || !w.NX || len(w.Errors) != 0 || w.WritableExec != 0 || w.ExecOutside != 0 || w.Pages["rwx"] != 0 {
		t.Errorf("wx: %s", js)
	}
	if w.Pages["r-x"] == 0 || w.Pages["r--"] == 0 || w.Pages["rw-"] == 0 {
		t.Errorf("wx: a permission class is empty: %v", w.Pages)
	}
	if len(w.Probes) != 5 {
		t.Errorf("wx: %d probes, want 5: %s", len(w.Probes), js)
	}
	for _, p := range w.Probes {
		want := uint64(0x3) // present, write
		if p.Exec {
			want = 0x11 // present, instruction fetch
		}
		if !p.OK || !p.Faulted || p.Error&0x13 != want || p.CR2 != p.Addr {
			t.Errorf("wx probe %q at %#x: faulted=%v error %#x cr2 %#x", p.Name, p.Addr, p.Faulted, p.Error, p.CR2)
		}
	}
	t.Logf("wx: %d table pages; pages %v; %d probes faulted", w.Tables, w.Pages, len(w.Probes))
}
