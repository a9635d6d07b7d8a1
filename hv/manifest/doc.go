// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

// Package manifest reads and checks tamavisor's partition manifest: a
// hand-written JSON document listing the VMs (partitions) the hypervisor
// creates, with their pinned vCPUs, guest RAM, kernel images, virtual
// console and passthrough devices. FORMAT.md next to this file is the
// user-facing reference; this comment is its summary.
//
// It is plain portable Go (standard library only, no unsafe, no build
// tags). It runs inside the hypervisor on every TamaGo target, where it
// reads the manifest embedded in the image, and on the build host, where
// cmd/hvmanifest checks and bundles manifests before they are embedded.
//
// # Format
//
//	{
//	  "vms": [
//	    {
//	      "name": "testguest", "id": 1,
//	      "vcpus": [ {"cpu": 0}, {"cpu": 1} ],
//	      "memory": {"base": "0x40000000", "size": "64M"},
//	      "kernel": "testguest.elf", "initrd": "", "cmdline": "",
//	      "console": {"base": "0x09000000", "irq": 33},
//	      "devices": [ {"name": "uart1", "base": "0x09040000", "size": "0x1000",
//	                    "pa": "0x09040000", "irqs": [40]} ],
//	      "autostart": true
//	    }
//	  ]
//	}
//
// An amd64 VM gives its console as a 16550 at I/O ports instead,
// "console": {"port": "0x3f8", "irq": 4} (an ISA IRQ 0..15), and its
// devices may carry I/O port ranges, "ports": [{"base": "0x2f8",
// "size": 8}], with or without a memory window (base, size, pa).
//
// Every number may be a JSON integer or a string holding a decimal or
// 0x-prefixed hexadecimal integer with an optional K, M or G suffix
// (binary multiples: "64M" is 64 MiB). Unknown and repeated object keys
// are errors, so a misspelt field never goes unnoticed.
//
// # Two stages
//
// Parse checks the syntax and every field on its own: sizes and counts
// (MaxVMs, MaxVCPUs, MaxDevices ...), name syntax, page alignment, the
// SPI range of interrupts (ISA IRQs for a port console), address
// wrap-around, I/O port ranges within the 64 Ki port space, exactly one
// of a console's base and port. Any such problem rejects
// the whole manifest, because a typo must be fixed, not worked around.
//
// Manifest.Validate then checks each VM against the machine (Limits) and
// against the VMs before it, and returns a Report that splits the VMs
// into Valid and Rejected, so the hypervisor can still start the valid
// ones. The rules, in file order, are:
//
//   - A VM whose name or id an earlier VM already uses is rejected, even
//     if the earlier VM was itself rejected (names and ids identify VMs
//     to the operator and must not move when an unrelated fix lands).
//   - Inside one VM's guest-physical (IPA) space, memory, console and
//     devices must not overlap each other or a hypervisor-reserved window
//     (Limits.Reserved, e.g. the emulated GIC), a vCPU must be pinned to
//     an existing physical CPU (Limits.CPUs), interrupts must be distinct,
//     and the kernel and initrd images must exist, be non-empty and fit
//     into the VM's memory (Limits.ImageSize, Limits.CheckKernel).
//   - Host resources are claimed in file order by accepted VMs only: a
//     passthrough device whose physical range (pa, size) or I/O port
//     range overlaps a range an earlier accepted VM owns, or a physical
//     interrupt such a VM owns, rejects the later VM; the first keeps it.
//     Ranges, ports and interrupts the hypervisor keeps
//     (Limits.HostReserved, Limits.HostPorts, Limits.HostIRQs) are never
//     given to a VM. Inside one VM, port ranges must not overlap each
//     other or a port console.
//   - Guest RAM is charged against Limits.GuestRAM in file order; a VM
//     that is otherwise valid but no longer fits is rejected.
//
// Different VMs may use the same guest-physical addresses: each VM has
// its own stage-2 (NPT/EPT) translation, and the hypervisor allocates the
// host RAM behind a VM's memory window itself, so the RAM of two VMs can
// never overlap. The only host resources a manifest names directly are
// passthrough device ranges and physical interrupts, and those are what
// the cross-VM rules guard. The console interrupt is a virtual INTID of
// the VM's own virtual GIC, so every VM may use the same one; likewise a
// port console is emulated in the VM's own I/O port space, so every VM
// may put it at 0x3f8, the hypervisor's own COM1 included.
//
// # Errors
//
// Every problem is a *FieldError naming the VM and the field, e.g.
//
//	vm "linux": memory: [0x40000000,0x50000000) overlaps console [0x40000000,0x40001000)
//
// and wraps one of the Err* sentinels, so callers can test it with
// errors.Is. Parse returns all problems it finds joined with errors.Join;
// a Rejection carries all problems of its VM the same way.
package manifest
