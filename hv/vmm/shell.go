// vmm: the architecture-neutral VM manager of tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package vmm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tamavisor/tamavisor/hv/shell"
)

// ConsoleEscape ends `vm console`: Ctrl-] (0x1d), as telnet and virsh
// use it.
const ConsoleEscape = 0x1d

type vmJSON struct {
	ID       int        `json:"id"`
	Name     string     `json:"name"`
	State    State      `json:"state"`
	Reason   string     `json:"reason,omitempty"`
	RAMBase  uint64     `json:"ram_ipa"`
	RAMHost  uint64     `json:"ram_pa"`
	RAMSize  uint64     `json:"ram_size"`
	VCPUs    []VCPUInfo `json:"vcpus"`
	Exits    uint64     `json:"exits"`
	Stats    Stats      `json:"stats"`
	LogBytes uint64     `json:"log_bytes"`
	Arch     any        `json:"arch,omitempty"`
}

// ArchStats is implemented by Machines that report their own counters
// (exits by kind, interrupt controller statistics) in `vm list --json`.
type ArchStats interface {
	ArchStats() any
}

// Commands returns the `vm` shell command. in is the raw console input,
// read directly while a VM console is attached.
func (m *Manager) Commands(in io.Reader) []shell.Command {
	return []shell.Command{{
		Name: "vm",
		Args: "list [--json] | start|stop|reset|log|console <vm>",
		Help: "list, start, stop, reset VMs; show a VM's console log; attach to its console (Ctrl-] detaches)",
		Run:  func(c *shell.Context, args []string) error { return m.runVM(c, args, in) },
	}, {
		Name: "cpus",
		Args: "[--json]",
		Help: "physical CPUs: online, role, guest runs completed on each",
		Run: func(c *shell.Context, args []string) error {
			if len(args) != 0 {
				return c.Usage()
			}
			return m.cpus(c)
		},
	}}
}

// CPUStat is one physical CPU as the cpus command shows it.
type CPUStat struct {
	CPU       int    `json:"cpu"`
	Online    bool   `json:"online"`
	Role      string `json:"role"`
	GuestRuns uint64 `json:"guest_runs"`
	// PolledIRQs counts passthrough interrupts this CPU found by
	// polling while it ran no guest (boot CPU only).
	PolledIRQs uint64 `json:"polled_irqs,omitempty"`
}

// CPUTable builds the cpus command's rows for n CPUs of which the first
// online run guests: CPU 0 is the boot CPU (the Go runtime, every
// scheduler and all exit handling besides its own guests), the others
// guest executors. runs gives each CPU's completed guest runs.
func CPUTable(n, online int, runs func(cpu int) uint64) []CPUStat {
	out := make([]CPUStat, n)
	for i := range out {
		out[i] = CPUStat{CPU: i, Online: i < online, Role: "guest executor", GuestRuns: runs(i)}
	}
	if n > 0 {
		out[0].Role = "boot: Go runtime, schedulers, exit handling, guests"
	}
	return out
}

func (m *Manager) cpus(c *shell.Context) error {
	var st []CPUStat
	if m.cfg.CPUStats != nil {
		st = m.cfg.CPUStats()
	}
	if c.JSON {
		return json.NewEncoder(c.Out).Encode(map[string]any{"cpus": st})
	}
	fmt.Fprintf(c.Out, "%-4s %-7s %-12s %s\n", "CPU", "ONLINE", "GUEST-RUNS", "ROLE")
	for _, s := range st {
		fmt.Fprintf(c.Out, "%-4d %-7t %-12d %s\n", s.CPU, s.Online, s.GuestRuns, s.Role)
	}
	return nil
}

func (m *Manager) runVM(c *shell.Context, args []string, in io.Reader) error {
	if len(args) == 0 {
		return c.Usage()
	}
	if args[0] == "list" {
		if len(args) != 1 {
			return c.Usage()
		}
		return m.list(c)
	}
	if len(args) != 2 {
		return c.Usage()
	}
	vm, err := m.Lookup(args[1])
	if err != nil {
		return err
	}
	switch args[0] {
	case "start":
		err = m.Start(vm)
	case "stop":
		err = m.Stop(vm)
	case "reset":
		err = m.Reset(vm)
	case "log":
		vm.mu.Lock()
		b := vm.Log.Bytes()
		vm.mu.Unlock()
		if c.JSON {
			return json.NewEncoder(c.Out).Encode(map[string]any{"vm": vm.Name, "log": string(b)})
		}
		c.Out.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			io.WriteString(c.Out, "\n")
		}
		return nil
	case "console":
		return m.console(c, vm, in)
	default:
		return c.Usage()
	}
	if err != nil {
		return err
	}
	if c.JSON {
		return json.NewEncoder(c.Out).Encode(map[string]any{"vm": vm.Name, "state": vm.State})
	}
	fmt.Fprintf(c.Out, "vm %s: %s\n", vm.Name, vm.State)
	return nil
}

func (m *Manager) list(c *shell.Context) error {
	vms := m.VMs()
	out := make([]vmJSON, 0, len(vms))
	for _, vm := range vms {
		vm.mu.Lock()
		out = append(out, vmJSON{
			ID: vm.ID, Name: vm.Name, State: vm.State, Reason: vm.Reason,
			RAMBase: uint64(vm.RAM.IPA), RAMHost: uint64(vm.RAM.PA), RAMSize: vm.RAM.Size,
			VCPUs: vm.Machine.VCPUInfo(), Exits: vm.Stats.Exits, Stats: vm.Stats, LogBytes: vm.Log.Written(),
		})
		if a, ok := vm.Machine.(ArchStats); ok {
			out[len(out)-1].Arch = a.ArchStats()
		}
		vm.mu.Unlock()
	}
	m.mu.Lock()
	rejected := append([]string(nil), m.Rejected...)
	m.mu.Unlock()
	if c.JSON {
		return json.NewEncoder(c.Out).Encode(map[string]any{"vms": out, "rejected": rejected})
	}
	fmt.Fprintf(c.Out, "%-3s %-12s %-8s %-8s %-24s %s\n", "ID", "NAME", "STATE", "RAM", "VCPUS(pcpu:state)", "EXITS")
	for _, v := range out {
		var cpus []string
		for _, vc := range v.VCPUs {
			cpus = append(cpus, fmt.Sprintf("%d:%s", vc.PCPU, vc.State))
		}
		fmt.Fprintf(c.Out, "%-3d %-12s %-8s %-8s %-24s %d\n", v.ID, v.Name, v.State,
			fmt.Sprintf("%dM", v.RAMSize>>20), strings.Join(cpus, ","), v.Exits)
		if v.Reason != "" {
			fmt.Fprintf(c.Out, "    reason: %s\n", v.Reason)
		}
	}
	for _, r := range rejected {
		fmt.Fprintf(c.Out, "rejected: %s\n", r)
	}
	return nil
}

// console attaches the operator console to vm's UART: the VM's output is
// shown as it comes, operator input goes to the VM, until Ctrl-].
func (m *Manager) console(c *shell.Context, vm *VM, in io.Reader) error {
	if err := m.Attach(vm); err != nil {
		return err
	}
	defer m.Detach()
	fmt.Fprintf(c.Out, "[attached to %s; Ctrl-] detaches]\n", vm.Name)
	buf := make([]byte, 64)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			b := buf[:n]
			if i := strings.IndexByte(string(b), ConsoleEscape); i >= 0 {
				m.Input(b[:i])
				fmt.Fprintf(c.Out, "\n[detached from %s]\n", vm.Name)
				return nil
			}
			m.Input(b)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
