// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"encoding/json"
	"fmt"
)

// Encode writes m in the manifest format, indented, with addresses, port
// numbers and sizes as hexadecimal strings and a device's pa always
// spelled out when it has a memory window (base, size and pa are left
// out for a device with I/O ports only). A console is written with base
// or with port, as Console.IsPort says.
// Parse(Encode(m)) gives back an equal Manifest for any m that Parse
// returned. cmd/hvmanifest uses it to write a bundle's manifest with
// rewritten image names.
func (m *Manifest) Encode() ([]byte, error) {
	raw := rawManifest{VMs: make([]rawVM, 0, len(m.VMs))}
	for _, vm := range m.VMs {
		r := rawVM{
			Name:      vm.Name,
			ID:        json.RawMessage(fmt.Sprint(vm.ID)),
			Memory:    &rawMemory{Base: hex(uint64(vm.Memory.Base)), Size: hex(vm.Memory.Size)},
			Kernel:    vm.Kernel,
			Initrd:    vm.Initrd,
			Cmdline:   vm.Cmdline,
			Autostart: vm.Autostart,
		}
		for _, v := range vm.VCPUs {
			r.VCPUs = append(r.VCPUs, rawVCPU{CPU: json.RawMessage(fmt.Sprint(v.CPU))})
		}
		if c := vm.Console; c != nil {
			r.Console = &rawConsole{IRQ: json.RawMessage(fmt.Sprint(c.IRQ))}
			if c.IsPort() {
				r.Console.Port = hex(uint64(c.Port))
			} else {
				r.Console.Base = hex(uint64(c.Base))
			}
		}
		for _, d := range vm.Devices {
			rd := rawDevice{Name: d.Name}
			if d.HasWindow() || len(d.Ports) == 0 {
				rd.Base, rd.Size, rd.PA = hex(uint64(d.Base)), hex(d.Size), hex(uint64(d.PA))
			}
			for _, irq := range d.IRQs {
				rd.IRQs = append(rd.IRQs, json.RawMessage(fmt.Sprint(irq)))
			}
			for _, p := range d.Ports {
				rd.Ports = append(rd.Ports, rawPortRange{Base: hex(uint64(p.Base)), Size: hex(uint64(p.Size))})
			}
			r.Devices = append(r.Devices, rd)
		}
		raw.VMs = append(raw.VMs, r)
	}
	out, err := json.MarshalIndent(&raw, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	return append(out, '\n'), nil
}
