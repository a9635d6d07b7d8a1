// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

package shell

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/hv"
)

// fakePower records calls to Platform.Poweroff.
type fakePower struct {
	calls int
	err   error // returned by Poweroff
}

func (f *fakePower) poweroff() error {
	f.calls++
	return f.err
}

// fakePlatform returns a qemu-virt-arm64 like platform.
func fakePlatform() (*hv.Platform, *fakePower) {
	pw := &fakePower{}
	return &hv.Platform{
		Board: "qemu-virt-arm64",
		Arch:  "arm64",
		Mode:  "EL2",
		CPUs:  4,
		MemoryMap: []hv.Region{
			{Name: "uart0", Kind: hv.MMIO, Base: 0x0900_0000, Size: 0x1000},
			{Name: "ram0", Kind: hv.RAM, Base: 0x4000_0000, Size: 1 << 30},
			{Name: "ram1", Kind: hv.RAM, Base: 0x1_0000_0000, Size: 512 << 20},
		},
		HypervisorRAM: hv.Region{Name: "hv", Kind: hv.RAM, Base: 0x4000_0000, Size: 32 << 20},
		Features:      map[string]bool{"el2": true, "gicv3": true, "svm": false},
		Details:       map[string]string{"entered_el": "2", "note": "two\nlines"},
		Uptime:        func() time.Duration { return 12345678901 * time.Nanosecond },
		Poweroff:      pw.poweroff,
	}, pw
}

// run registers Standard(p) in a fresh shell, executes line and returns
// the error and the output lines (without the final empty one).
func run(t *testing.T, p *hv.Platform, line string) ([]string, error) {
	t.Helper()
	s, out := newTestShell(t, "", Standard(p)...)
	err := s.Exec(line)
	got := lines(t, out.String())
	if got[len(got)-1] != "" {
		t.Errorf("%q: output does not end in a line break: %q", line, out)
	}
	return got[:len(got)-1], err
}

func TestInfoText(t *testing.T) {
	p, _ := fakePlatform()
	got, err := run(t, p, "info")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`^version: +` + regexp.QuoteMeta(hv.Version) + `$`,
		`^revision: +` + regexp.QuoteMeta(hv.Revision) + `$`,
		`^board: +qemu-virt-arm64$`,
		`^arch: +arm64$`,
		`^mode: +EL2$`,
		`^cpus: +4$`,
		`^ram: +0x40000000-0x80000000 \(1 GiB\), 0x100000000-0x120000000 \(512 MiB\)$`,
		`^hypervisor ram: 0x40000000-0x42000000 \(32 MiB\)$`,
		`^features: +\+el2 \+gicv3 -svm$`,
		`^uptime: +12\.345s$`,
		`^entered_el: +2$`,
		`^note: +two; lines$`,
	}
	if len(got) != len(want) {
		t.Fatalf("info printed %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	col := strings.Index(got[0], "0")
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(got[i]) {
			t.Errorf("line %d = %q; want %s", i, got[i], re)
		}
		// Values are aligned in one column.
		if k := strings.Index(got[i], ":"); len(strings.TrimSpace(got[i][k+1:col])) != 0 {
			t.Errorf("line %d not aligned at column %d: %q", i, col, got[i])
		}
	}
}

func TestInfoJSON(t *testing.T) {
	p, _ := fakePlatform()
	got, err := run(t, p, "info --json")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("info --json printed %d lines: %q", len(got), got)
	}
	if !strings.HasPrefix(got[0], `{"version":`) {
		t.Errorf("keys out of order: %s", got[0])
	}
	type region struct {
		Name string
		Kind string
		Base uint64
		Size uint64
	}
	var info struct {
		Version       string            `json:"version"`
		Revision      string            `json:"revision"`
		Board         string            `json:"board"`
		Arch          string            `json:"arch"`
		Mode          string            `json:"mode"`
		CPUs          int               `json:"cpus"`
		RAM           []region          `json:"ram"`
		HypervisorRAM region            `json:"hypervisor_ram"`
		MemoryMap     []region          `json:"memory_map"`
		Features      map[string]bool   `json:"features"`
		Details       map[string]string `json:"details"`
		UptimeNS      int64             `json:"uptime_ns"`
		Boot          *struct{}         `json:"boot"`
	}
	dec := json.NewDecoder(strings.NewReader(got[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", info.Version, hv.Version},
		{"revision", info.Revision, hv.Revision},
		{"board", info.Board, "qemu-virt-arm64"},
		{"arch", info.Arch, "arm64"},
		{"mode", info.Mode, "EL2"},
		{"cpus", info.CPUs, 4},
		{"ram count", len(info.RAM), 2},
		{"ram[1]", info.RAM[1], region{Base: 0x1_0000_0000, Size: 512 << 20}},
		{"hypervisor_ram", info.HypervisorRAM, region{Base: 0x4000_0000, Size: 32 << 20}},
		{"memory_map count", len(info.MemoryMap), 3},
		{"memory_map[0]", info.MemoryMap[0], region{"uart0", "mmio", 0x0900_0000, 0x1000}},
		{"features.el2", info.Features["el2"], true},
		{"features.svm", info.Features["svm"], false},
		{"features count", len(info.Features), 3},
		{"details.note", info.Details["note"], "two\nlines"},
		{"uptime_ns", info.UptimeNS, int64(12345678901)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
	}
	// Numbers are JSON numbers, not strings.
	if !strings.Contains(got[0], `"hypervisor_ram":{"base":1073741824,"size":33554432}`) {
		t.Errorf("hypervisor_ram not numeric: %s", got[0])
	}
}

func TestMem(t *testing.T) {
	p, _ := fakePlatform()
	got, err := run(t, p, "mem")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`^NAME +KIND +BASE +END +SIZE$`,
		`^uart0 +mmio +0x9000000 +0x9001000 +4 KiB$`,
		`^ram0 +ram +0x40000000 +0x80000000 +1 GiB$`,
		`^ram1 +ram +0x100000000 +0x120000000 +512 MiB$`,
		`^$`,
		`^hypervisor ram: +0x40000000-0x42000000 \(32 MiB\)$`,
		`^go heap: +[0-9.]+ [KMG]?i?B in use, [0-9.]+ [KMG]?i?B from system$`,
		`^go runtime: +[0-9.]+ [KMG]?i?B from system, \d+ GC cycles$`,
	}
	if len(got) != len(want) {
		t.Fatalf("mem printed %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(got[i]) {
			t.Errorf("line %d = %q; want %s", i, got[i], re)
		}
	}

	got, err = run(t, p, "mem --json")
	if err != nil || len(got) != 1 {
		t.Fatalf("mem --json = %q, %v", got, err)
	}
	var m struct {
		MemoryMap []struct {
			Name            string
			Base, End, Size uint64
		} `json:"memory_map"`
		HypervisorRAM struct{ Base, Size uint64 } `json:"hypervisor_ram"`
		Runtime       struct {
			HeapAlloc uint64 `json:"heap_alloc"`
			HeapSys   uint64 `json:"heap_sys"`
			Sys       uint64 `json:"sys"`
			NumGC     uint32 `json:"num_gc"`
		} `json:"runtime"`
	}
	if err := json.Unmarshal([]byte(got[0]), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.MemoryMap) != 3 || m.MemoryMap[1].End != 0x8000_0000 ||
		m.HypervisorRAM.Size != 32<<20 || m.Runtime.Sys == 0 || m.Runtime.HeapSys == 0 {
		t.Errorf("mem --json = %+v", m)
	}
}

func TestUptime(t *testing.T) {
	p, _ := fakePlatform()
	tests := []struct {
		line string
		want string
	}{
		{"uptime", "up 12.345s"},
		{"uptime --json", `{"uptime_ns":12345678901}`},
	}
	for _, tt := range tests {
		got, err := run(t, p, tt.line)
		if err != nil || len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
	p.Uptime = nil
	if _, err := run(t, p, "uptime"); !errors.Is(err, ErrNotSupported) {
		t.Errorf("uptime without clock = %v; want ErrNotSupported", err)
	}
}

func TestPoweroff(t *testing.T) {
	p, pw := fakePlatform()
	got, err := run(t, p, "poweroff")
	if !errors.Is(err, ErrExit) || pw.calls != 1 || len(got) != 1 || got[0] != "powering off" {
		t.Errorf("poweroff = %q, %v, %d calls; want ErrExit, 1 call", got, err, pw.calls)
	}

	// A failing poweroff is reported and the shell carries on.
	pw.err = errors.New("PSCI SYSTEM_OFF returned DENIED")
	s, out := newTestShell(t, "poweroff\nuptime\n", Standard(p)...)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		Prompt + "powering off",
		"error: poweroff failed: PSCI SYSTEM_OFF returned DENIED",
		Prompt + "up 12.345s",
		Prompt,
		"",
	}
	if got := lines(t, out.String()); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("output %q; want %q", got, want)
	}
	if pw.calls != 2 {
		t.Errorf("Poweroff called %d times; want 2", pw.calls)
	}

	p.Poweroff = nil
	if got, err := run(t, p, "poweroff"); !errors.Is(err, ErrNotSupported) || len(got) != 0 {
		t.Errorf("poweroff without hook = %q, %v; want ErrNotSupported", got, err)
	}
}

func TestStandardUsage(t *testing.T) {
	p, pw := fakePlatform()
	for _, c := range Standard(p) {
		_, err := run(t, p, c.Name+" extra")
		want := "usage: " + strings.TrimSpace(c.Name+" "+c.Args)
		if !errors.Is(err, ErrUsage) || err.Error() != want {
			t.Errorf("%s extra = %v; want %q", c.Name, err, want)
		}
	}
	if pw.calls != 0 {
		t.Error("poweroff with a bad argument powered off")
	}
}

// TestStandardEmptyPlatform runs every command, in both forms, on an
// empty and a nil platform: errors are fine, panics are not.
func TestStandardEmptyPlatform(t *testing.T) {
	for _, p := range []*hv.Platform{nil, {}} {
		s, _ := newTestShell(t, "", Standard(p)...)
		for _, c := range s.Commands() {
			for _, line := range []string{c.Name, c.Name + " --json", c.Name + " -h"} {
				err := s.Exec(line)
				if errors.Is(err, ErrInternal) {
					t.Errorf("%s on empty platform: %v", line, err)
				}
			}
		}
		if s.Panics != 0 {
			t.Errorf("%d panics", s.Panics)
		}
	}
	got, err := run(t, &hv.Platform{}, "info --json")
	if err != nil || len(got) != 1 ||
		!strings.Contains(got[0], `"ram":[],"hypervisor_ram":{"base":0,"size":0},"memory_map":[],"features":{},"details":{},"uptime_ns":0,"boot":null}`) {
		t.Errorf("info --json on empty platform = %q, %v", got, err)
	}
	got, err = run(t, nil, "info")
	if err != nil || !anyMatch(got, `^board: +-$`) || !anyMatch(got, `^uptime: +unknown$`) {
		t.Errorf("info on nil platform = %q, %v", got, err)
	}
}

func anyMatch(lines []string, re string) bool {
	r := regexp.MustCompile(re)
	for _, l := range lines {
		if r.MatchString(l) {
			return true
		}
	}
	return false
}

func TestSizeText(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{512 << 20, "512 MiB"},
		{1 << 30, "1 GiB"},
		{3 << 40, "3 TiB"},
		{1 << 60, "1 EiB"},
		{1<<64 - 1, "16.0 EiB"},
	}
	for _, tt := range tests {
		if got := sizeText(tt.n); got != tt.want {
			t.Errorf("sizeText(%d) = %q; want %q", tt.n, got, tt.want)
		}
	}
}

func TestInfoBoot(t *testing.T) {
	p, _ := fakePlatform()
	p.Boot = &hv.BootInfo{
		Protocol: "multiboot2", Loader: "GRUB 2.06", Cmdline: "/boot/tamavisor.elf console=com1",
		LinkBase: 0x1000_0000, LoadBase: 0x0fa0_0000,
		Modules:          []hv.BootModule{{Name: "manifest", Cmdline: "manifest x=1", Base: 0x3000_0000, Size: 123}},
		ExitBootServices: "loader",
		Errors:           []string{"multiboot2: something odd"},
	}
	got, err := run(t, p, "info --json")
	if err != nil || len(got) != 1 {
		t.Fatalf("info --json = %q, %v", got, err)
	}
	var info struct {
		Boot struct {
			Protocol string `json:"protocol"`
			Loader   string `json:"loader"`
			LinkBase uint64 `json:"link_base"`
			LoadBase uint64 `json:"load_base"`
			Offset   int64  `json:"offset"`
			Modules  []struct {
				Name string `json:"name"`
				Base uint64 `json:"base"`
				Size uint64 `json:"size"`
			} `json:"modules"`
			ExitBootServices string   `json:"exit_boot_services"`
			Errors           []string `json:"errors"`
		} `json:"boot"`
	}
	if err := json.Unmarshal([]byte(got[0]), &info); err != nil {
		t.Fatal(err)
	}
	b := info.Boot
	if b.Protocol != "multiboot2" || b.Loader != "GRUB 2.06" || b.LinkBase != 0x1000_0000 ||
		b.LoadBase != 0x0fa0_0000 || b.Offset != -0x60_0000 || len(b.Modules) != 1 ||
		b.Modules[0].Name != "manifest" || b.Modules[0].Size != 123 || b.ExitBootServices != "loader" || len(b.Errors) != 1 {
		t.Errorf("boot = %+v", b)
	}
	got, err = run(t, p, "info")
	if err != nil || !anyMatch(got, `^boot: +multiboot2 \(GRUB 2\.06\)$`) ||
		!anyMatch(got, `^load base: +0xfa00000 \(linked at 0x10000000, offset -0x600000\)$`) ||
		!anyMatch(got, `^module 0: +manifest x=1 \(0x30000000, 123 bytes\)$`) ||
		!anyMatch(got, `^boot error: +multiboot2: something odd$`) {
		t.Errorf("info = %q, %v", got, err)
	}
}
