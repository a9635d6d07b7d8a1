// hv/shell: the operator shell on tamavisor's serial console.
// SPDX-License-Identifier: BSD-3-Clause

package shell

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tamavisor/tamavisor/hv"
)

// ErrNotSupported reports a command that needs a platform hook the board
// did not provide.
var ErrNotSupported = errors.New("not supported on this platform")

// Standard returns the standard commands, reporting on p: info, mem,
// uptime and poweroff. p is only read, when a command runs; any field
// may be empty or nil, and a nil p reads as an empty platform.
func Standard(p *hv.Platform) []Command {
	if p == nil {
		p = &hv.Platform{}
	}
	return []Command{
		{
			Name: "info",
			Args: "[--json]",
			Help: "show the build, board, CPUs, memory and features",
			Run:  func(c *Context, args []string) error { return runInfo(c, args, p) },
		},
		{
			Name: "mem",
			Args: "[--json]",
			Help: "show the memory map and Go runtime memory statistics",
			Run:  func(c *Context, args []string) error { return runMem(c, args, p) },
		},
		{
			Name: "uptime",
			Args: "[--json]",
			Help: "show the time since the hypervisor started",
			Run:  func(c *Context, args []string) error { return runUptime(c, args, p) },
		},
		{
			Name: "poweroff",
			Help: "turn the machine off",
			Run:  func(c *Context, args []string) error { return runPoweroff(c, args, p) },
		},
	}
}

// rangeJSON is an address range in JSON output; numbers are plain JSON
// numbers.
type rangeJSON struct {
	Base uint64 `json:"base"`
	Size uint64 `json:"size"`
}

// regionJSON is one memory map entry in `info --json`.
type regionJSON struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Base uint64 `json:"base"`
	Size uint64 `json:"size"`
}

// infoJSON is the output of `info --json`. Its field order is the key
// order on the wire.
type infoJSON struct {
	Version       string            `json:"version"`
	Revision      string            `json:"revision"`
	Board         string            `json:"board"`
	Arch          string            `json:"arch"`
	Mode          string            `json:"mode"`
	CPUs          int               `json:"cpus"`
	RAM           []rangeJSON       `json:"ram"`
	HypervisorRAM rangeJSON         `json:"hypervisor_ram"`
	MemoryMap     []regionJSON      `json:"memory_map"`
	Features      map[string]bool   `json:"features"`
	Details       map[string]string `json:"details"`
	UptimeNS      int64             `json:"uptime_ns"`
	Boot          *bootJSON         `json:"boot"`
}

// bootJSON is hv.BootInfo in `info --json`; null when the board does not
// say how it booted.
type bootJSON struct {
	Protocol         string       `json:"protocol"`
	Loader           string       `json:"loader"`
	Cmdline          string       `json:"cmdline"`
	LinkBase         uint64       `json:"link_base"`
	LoadBase         uint64       `json:"load_base"`
	Offset           int64        `json:"offset"`
	Modules          []moduleJSON `json:"modules"`
	ExitBootServices string       `json:"exit_boot_services"`
	ACPIRoot         uint64       `json:"acpi_root"`
	ACPISource       string       `json:"acpi_source"`
	Errors           []string     `json:"errors"`
}

type moduleJSON struct {
	Name    string `json:"name"`
	Cmdline string `json:"cmdline"`
	Base    uint64 `json:"base"`
	Size    uint64 `json:"size"`
}

func newBootJSON(b *hv.BootInfo) *bootJSON {
	if b == nil {
		return nil
	}
	j := &bootJSON{
		Protocol: b.Protocol, Loader: b.Loader, Cmdline: b.Cmdline,
		LinkBase: b.LinkBase, LoadBase: b.LoadBase, Offset: b.Offset(),
		Modules:          []moduleJSON{},
		ExitBootServices: b.ExitBootServices,
		ACPIRoot:         b.ACPIRoot, ACPISource: b.ACPISource,
		Errors: append([]string{}, b.Errors...),
	}
	for _, m := range b.Modules {
		j.Modules = append(j.Modules, moduleJSON{m.Name, m.Cmdline, uint64(m.Base), m.Size})
	}
	return j
}

// uptime returns p.Uptime(), or false if the board has no clock.
func uptime(p *hv.Platform) (time.Duration, bool) {
	if p.Uptime == nil {
		return 0, false
	}
	return p.Uptime(), true
}

func runInfo(c *Context, args []string, p *hv.Platform) error {
	if len(args) != 0 {
		return c.Usage()
	}
	up, haveUp := uptime(p)

	if c.JSON {
		info := infoJSON{
			Version:       hv.Version,
			Revision:      hv.Revision,
			Board:         p.Board,
			Arch:          p.Arch,
			Mode:          p.Mode,
			CPUs:          p.CPUs,
			RAM:           []rangeJSON{},
			HypervisorRAM: rangeJSON{uint64(p.HypervisorRAM.Base), p.HypervisorRAM.Size},
			MemoryMap:     []regionJSON{},
			Features:      map[string]bool{},
			Details:       map[string]string{},
			UptimeNS:      int64(up),
			Boot:          newBootJSON(p.Boot),
		}
		for _, r := range p.RAM() {
			info.RAM = append(info.RAM, rangeJSON{uint64(r.Base), r.Size})
		}
		for _, r := range p.MemoryMap {
			info.MemoryMap = append(info.MemoryMap,
				regionJSON{r.Name, string(r.Kind), uint64(r.Base), r.Size})
		}
		maps.Copy(info.Features, p.Features)
		maps.Copy(info.Details, p.Details)
		return writeJSON(c.Out, info)
	}

	var ram []string
	for _, r := range p.RAM() {
		ram = append(ram, rangeText(r))
	}
	var features []string
	for _, name := range slices.Sorted(maps.Keys(p.Features)) {
		if p.Features[name] {
			features = append(features, "+"+name)
		} else {
			features = append(features, "-"+name)
		}
	}
	upText := "unknown"
	if haveUp {
		upText = durationText(up)
	}

	tw := tabwriter.NewWriter(c.Out, 0, 8, 1, ' ', 0)
	line := func(key, value string) {
		if value == "" {
			value = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", oneLine(key), oneLine(value))
	}
	line("version", hv.Version)
	line("revision", hv.Revision)
	line("board", p.Board)
	line("arch", p.Arch)
	line("mode", p.Mode)
	line("cpus", fmt.Sprint(p.CPUs))
	line("ram", strings.Join(ram, ", "))
	line("hypervisor ram", rangeText(p.HypervisorRAM))
	line("features", strings.Join(features, " "))
	line("uptime", upText)
	if b := p.Boot; b != nil {
		line("boot", b.Protocol+loaderText(b.Loader))
		line("load base", fmt.Sprintf("%#x (linked at %#x, offset %+#x)", b.LoadBase, b.LinkBase, b.Offset()))
		if b.Cmdline != "" {
			line("cmdline", b.Cmdline)
		}
		for i, m := range b.Modules {
			line(fmt.Sprintf("module %d", i), fmt.Sprintf("%s %s (%#x, %d bytes)", m.Name, strings.TrimSpace(strings.TrimPrefix(m.Cmdline, m.Name)), uint64(m.Base), m.Size))
		}
		if b.ExitBootServices != "" {
			line("exit boot services", b.ExitBootServices)
		}
		for _, e := range b.Errors {
			line("boot error", e)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(p.Details)) {
		line(key, p.Details[key])
	}
	return tw.Flush()
}

func loaderText(l string) string {
	if l == "" {
		return ""
	}
	return " (" + l + ")"
}

// memEntryJSON is one memory map entry in `mem --json`.
type memEntryJSON struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Base uint64 `json:"base"`
	End  uint64 `json:"end"`
	Size uint64 `json:"size"`
}

// runtimeJSON is the Go runtime part of `mem --json`
// (runtime.MemStats fields of the same names).
type runtimeJSON struct {
	HeapAlloc uint64 `json:"heap_alloc"`
	HeapSys   uint64 `json:"heap_sys"`
	Sys       uint64 `json:"sys"`
	NumGC     uint32 `json:"num_gc"`
}

// memJSON is the output of `mem --json`.
type memJSON struct {
	MemoryMap     []memEntryJSON `json:"memory_map"`
	HypervisorRAM rangeJSON      `json:"hypervisor_ram"`
	Runtime       runtimeJSON    `json:"runtime"`
}

func runMem(c *Context, args []string, p *hv.Platform) error {
	if len(args) != 0 {
		return c.Usage()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	if c.JSON {
		m := memJSON{
			MemoryMap:     []memEntryJSON{},
			HypervisorRAM: rangeJSON{uint64(p.HypervisorRAM.Base), p.HypervisorRAM.Size},
			Runtime:       runtimeJSON{ms.HeapAlloc, ms.HeapSys, ms.Sys, ms.NumGC},
		}
		for _, r := range p.MemoryMap {
			m.MemoryMap = append(m.MemoryMap, memEntryJSON{
				r.Name, string(r.Kind), uint64(r.Base), uint64(r.End()), r.Size})
		}
		return writeJSON(c.Out, m)
	}

	tw := tabwriter.NewWriter(c.Out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tKIND\tBASE\tEND\tSIZE\n")
	for _, r := range p.MemoryMap {
		fmt.Fprintf(tw, "%s\t%s\t%#x\t%#x\t%s\n", oneLine(r.Name), oneLine(string(r.Kind)),
			uint64(r.Base), uint64(r.End()), sizeText(r.Size))
	}
	fmt.Fprintf(tw, "\n")
	fmt.Fprintf(tw, "hypervisor ram:\t%s\n", rangeText(p.HypervisorRAM))
	fmt.Fprintf(tw, "go heap:\t%s in use, %s from system\n",
		sizeText(ms.HeapAlloc), sizeText(ms.HeapSys))
	fmt.Fprintf(tw, "go runtime:\t%s from system, %d GC cycles\n", sizeText(ms.Sys), ms.NumGC)
	return tw.Flush()
}

func runUptime(c *Context, args []string, p *hv.Platform) error {
	if len(args) != 0 {
		return c.Usage()
	}
	up, ok := uptime(p)
	if !ok {
		return fmt.Errorf("uptime: %w", ErrNotSupported)
	}
	if c.JSON {
		return writeJSON(c.Out, struct {
			UptimeNS int64 `json:"uptime_ns"`
		}{int64(up)})
	}
	_, err := fmt.Fprintf(c.Out, "up %s\n", durationText(up))
	return err
}

// runPoweroff calls p.Poweroff. Poweroff returns only on failure, which
// becomes the command's error; if it returns nil anyway (a host harness
// that only records the call), the command returns ErrExit so that the
// shell stops reading input, as it would on a machine that went dark.
func runPoweroff(c *Context, args []string, p *hv.Platform) error {
	if len(args) != 0 {
		return c.Usage()
	}
	if p.Poweroff == nil {
		return fmt.Errorf("poweroff: %w", ErrNotSupported)
	}
	if _, err := io.WriteString(c.Out, "powering off\n"); err != nil {
		return err
	}
	if err := p.Poweroff(); err != nil {
		return fmt.Errorf("poweroff failed: %w", err)
	}
	return ErrExit
}

// rangeText formats a region's extent as "0x40000000-0x80000000 (1 GiB)".
func rangeText(r hv.Region) string {
	return fmt.Sprintf("%#x-%#x (%s)", uint64(r.Base), uint64(r.End()), sizeText(r.Size))
}

// sizeText formats a byte count in binary units: "512 MiB", "1.5 GiB",
// "100 B".
func sizeText(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	exp, div := 0, uint64(1024)
	for n/div >= 1024 && exp < len(units)-1 {
		div *= 1024
		exp++
	}
	if n%div == 0 {
		return fmt.Sprintf("%d %ciB", n/div, units[exp])
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), units[exp])
}

// durationText formats d to the millisecond, e.g. "12.345s".
func durationText(d time.Duration) string {
	return d.Truncate(time.Millisecond).String()
}
