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
	cmdTimeout  = 10 * time.Second // one shell command
	offTimeout  = 20 * time.Second // poweroff to QEMU exit
	prompt      = `tamavisor> `
	fourGiB     = 1 << 32
)

var bootCases = []struct {
	name  string
	board string
	opts  qemu.Options
}{
	{"qemu-virt-arm64", qemu.VirtARM64, qemu.Options{}},
	{"qemu-virt-arm64-secure", qemu.VirtARM64, qemu.Options{Secure: true}},
	{"qemu-q35-amd64", qemu.Q35AMD64, qemu.Options{}},
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
			banner := s.line(`tamavisor (\S+) \(rev (\S+)\)`, bootTimeout)
			if got := s.line(`^board: (\S+)$`, bootTimeout)[1]; got != b.Name {
				t.Errorf("banner board = %q, want %q", got, b.Name)
			}
			mode := s.line(`^mode: (.+)$`, cmdTimeout)[1]
			checkMode(t, b, "banner", mode)
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
