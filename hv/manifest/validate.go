// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"errors"
	"fmt"

	"github.com/tamavisor/tamavisor/hv"
)

// Window is a named guest-physical range [Base, Base+Size).
type Window struct {
	Name string
	Base hv.IPA
	Size uint64
}

// Limits describes the machine a manifest is validated against. A zero
// field means "not checked", so a host tool can validate what it knows;
// the hypervisor fills in every field.
type Limits struct {
	// CPUs is the number of physical CPUs; a vCPU pinned to CPU index
	// CPUs or higher is refused. 0: not checked.
	CPUs int
	// GuestRAM is the host RAM available for guest memory, in bytes. VMs
	// are charged memory.size each, in file order. 0: not checked.
	GuestRAM uint64
	// ImageSize returns the size of the image called name and whether it
	// exists. A missing or empty kernel or initrd rejects the VM, as do
	// images that together exceed memory.size. nil: not checked.
	ImageSize func(name string) (size int64, ok bool)
	// CheckKernel, if set, is called for a VM's kernel after ImageSize
	// found it; an error rejects the VM (e.g. an unknown image format).
	CheckKernel func(name string) error
	// Reserved are the guest-physical windows the hypervisor emulates in
	// every VM (e.g. the virtual GIC); nothing in a VM may overlap them.
	Reserved []Window
	// HostReserved are host-physical ranges no device may be passed
	// through from: the hypervisor's own RAM and devices (its console
	// UART, the physical GIC, the IOMMU ...). An entry of Kind hv.IOPort
	// is taken as an I/O port range, as if it were in HostPorts.
	HostReserved []hv.Region
	// HostPorts are x86 I/O port ranges (Base and Size count ports) no
	// device may be given (e.g. the hypervisor's COM1, 0x3f8 size 8).
	// Kind is not looked at. A VM's console port is emulated, not
	// passed through, so it may use these numbers.
	HostPorts []hv.Region
	// HostIRQs are physical INTIDs the hypervisor keeps for itself.
	HostIRQs []uint32
	// IPABits is the guest-physical address size of the stage-2 (or
	// NPT/EPT) tables; every window must end at or below 1<<IPABits.
	// 0 or more than AddrBits means AddrBits, which Parse already checks.
	IPABits uint
}

// Rejection is a VM that Validate refused, with all of its problems
// (FieldErrors joined with errors.Join).
type Rejection struct {
	VM  *VM
	Err error
}

func (r Rejection) Error() string { return r.Err.Error() }

// Report is the outcome of Validate. Every VM of the manifest is in
// exactly one of Valid and Rejected, each list in file order.
type Report struct {
	Valid    []*VM
	Rejected []Rejection
	// RAM is the guest memory the valid VMs need, in bytes.
	RAM uint64
}

// Err returns nil if no VM was rejected, else all problems of all
// rejected VMs joined with errors.Join.
func (r *Report) Err() error {
	var errs []error
	for _, rej := range r.Rejected {
		errs = append(errs, rej.Err)
	}
	return errors.Join(errs...)
}

// claim is a host resource owned by an accepted VM.
type claim struct {
	vm     *VM
	device string
	w      window
}

// validator carries the cross-VM state of one Validate run.
type validator struct {
	lim      Limits
	names    map[string]*VM
	ids      map[uint8]*VM
	ranges   []claim           // passthrough PA ranges of accepted VMs
	ports    []claim           // passthrough I/O port ranges of accepted VMs
	irqs     map[uint32]*claim // physical INTIDs of accepted VMs
	ramUsed  uint64
	problems []error
}

func (v *validator) fail(vm *VM, field string, kind error, format string, args ...any) {
	v.problems = append(v.problems, &FieldError{VM: vm.Label(), Field: field, Msg: fmt.Sprintf(format, args...), Kind: kind})
}

// Validate checks every VM against lim and against the VMs before it in
// the manifest, following the rules in the package comment, and sorts
// the VMs into a Report. The VMs are not copied. Validate expects a
// Manifest from Parse; it never panics on any other, but does not repeat
// the field checks Parse makes.
func (m *Manifest) Validate(lim Limits) *Report {
	v := &validator{lim: lim, names: map[string]*VM{}, ids: map[uint8]*VM{}, irqs: map[uint32]*claim{}}
	rep := &Report{}
	for i, vm := range m.VMs {
		if vm == nil {
			rep.Rejected = append(rep.Rejected, Rejection{Err: &FieldError{VM: fmt.Sprintf("vms[%d]", i), Msg: "no VM", Kind: ErrMissing}})
			continue
		}
		v.problems = nil
		v.identity(vm)
		v.cpus(vm)
		v.layout(vm)
		v.interrupts(vm)
		v.passthrough(vm)
		v.ioPorts(vm)
		v.images(vm)
		if len(v.problems) == 0 {
			v.ram(vm)
		}
		if len(v.problems) > 0 {
			rep.Rejected = append(rep.Rejected, Rejection{VM: vm, Err: errors.Join(v.problems...)})
			continue
		}
		v.claim(vm)
		rep.Valid = append(rep.Valid, vm)
	}
	rep.RAM = v.ramUsed
	return rep
}

// identity checks that name and id are new. Both are recorded for the
// first VM using them, whether or not that VM is accepted.
func (v *validator) identity(vm *VM) {
	if first, ok := v.names[vm.Name]; ok {
		v.fail(vm, "name", ErrDuplicateName, "%q is already the name of an earlier VM (id %d)", vm.Name, first.ID)
	} else {
		v.names[vm.Name] = vm
	}
	if first, ok := v.ids[vm.ID]; ok {
		v.fail(vm, "id", ErrDuplicateID, "%d is already the id of %s", vm.ID, first.Label())
	} else {
		v.ids[vm.ID] = vm
	}
}

func (v *validator) cpus(vm *VM) {
	if v.lim.CPUs <= 0 {
		return
	}
	for i, c := range vm.VCPUs {
		if c.CPU < 0 || c.CPU >= v.lim.CPUs {
			v.fail(vm, fmt.Sprintf("vcpus[%d].cpu", i), ErrNoCPU,
				"CPU %d does not exist: the machine has %d CPUs (0..%d)", c.CPU, v.lim.CPUs, v.lim.CPUs-1)
		}
	}
}

// ipaWindows lists what occupies vm's guest-physical space, with the
// field each entry comes from.
func ipaWindows(vm *VM) (fields []string, ws []window) {
	fields = append(fields, "memory")
	ws = append(ws, window{"memory", uint64(vm.Memory.Base), vm.Memory.Size})
	if vm.Console != nil && !vm.Console.IsPort() {
		fields = append(fields, "console")
		ws = append(ws, window{"console", uint64(vm.Console.Base), ConsoleSize})
	}
	for i, d := range vm.Devices {
		if !d.HasWindow() {
			continue
		}
		fields = append(fields, fmt.Sprintf("devices[%d]", i))
		ws = append(ws, window{fmt.Sprintf("device %q", d.Name), uint64(d.Base), d.Size})
	}
	return fields, ws
}

// layout checks the VM's guest-physical space: the windows are pairwise
// disjoint, below 1<<IPABits, and clear of the reserved windows.
func (v *validator) layout(vm *VM) {
	fields, ws := ipaWindows(vm)
	bits := v.lim.IPABits
	if bits == 0 || bits > AddrBits {
		bits = AddrBits
	}
	for i, w := range ws {
		if w.end() < w.base || w.end() > 1<<bits {
			v.fail(vm, fields[i], ErrRange, "%s ends beyond the %d-bit guest-physical address space", w, bits)
		}
		for _, o := range ws[:i] {
			if w.overlaps(o) {
				v.fail(vm, fields[i], ErrOverlap, "%s overlaps %s %s", w, o.what, o)
			}
		}
		for _, r := range v.lim.Reserved {
			if rw := (window{r.Name, uint64(r.Base), r.Size}); w.overlaps(rw) {
				v.fail(vm, fields[i], ErrReserved, "%s overlaps the hypervisor's %s window %s", w, r.Name, rw)
			}
		}
	}
}

// interrupts checks that the console and the devices use distinct
// INTIDs inside the VM, that no device takes one the hypervisor keeps,
// and that none is routed to an earlier accepted VM.
func (v *validator) interrupts(vm *VM) {
	seen := map[uint32]string{}
	if vm.Console != nil {
		seen[vm.Console.IRQ] = "the console's interrupt"
	}
	for i, d := range vm.Devices {
		for j, irq := range d.IRQs {
			field := fmt.Sprintf("devices[%d].irqs[%d]", i, j)
			if what, ok := seen[irq]; ok {
				v.fail(vm, field, ErrIRQInUse, "INTID %d is already %s", irq, what)
				continue
			}
			seen[irq] = fmt.Sprintf("an interrupt of device %q", d.Name)
			if contains32(v.lim.HostIRQs, irq) {
				v.fail(vm, field, ErrHostReserved, "INTID %d belongs to the hypervisor", irq)
			} else if c, ok := v.irqs[irq]; ok {
				v.fail(vm, field, ErrIRQInUse, "INTID %d is already routed to %s (device %q)", irq, c.vm.Label(), c.device)
			}
		}
	}
}

func contains32(list []uint32, x uint32) bool {
	for _, y := range list {
		if x == y {
			return true
		}
	}
	return false
}

// paWindow is device d's host-physical range.
func paWindow(d Device) window { return window{fmt.Sprintf("device %q", d.Name), uint64(d.PA), d.Size} }

// passthrough checks the devices' host-physical ranges: disjoint from
// each other, from what the hypervisor keeps, and from the ranges of
// earlier accepted VMs.
func (v *validator) passthrough(vm *VM) {
	for i, d := range vm.Devices {
		if !d.HasWindow() {
			continue
		}
		field := fmt.Sprintf("devices[%d].pa", i)
		w := paWindow(d)
		for _, o := range vm.Devices[:i] {
			if ow := paWindow(o); o.HasWindow() && w.overlaps(ow) {
				v.fail(vm, field, ErrPAInUse, "%s overlaps the host range %s of %s", w, ow, ow.what)
			}
		}
		for _, r := range v.lim.HostReserved {
			if r.Kind == hv.IOPort {
				continue
			}
			if rw := (window{r.Name, uint64(r.Base), r.Size}); w.overlaps(rw) {
				v.fail(vm, field, ErrHostReserved, "%s overlaps the hypervisor's %s %s", w, r.Name, rw)
			}
		}
		for _, c := range v.ranges {
			if w.overlaps(c.w) {
				v.fail(vm, field, ErrPAInUse, "%s is already passed through to %s (device %q at %s)", w, c.vm.Label(), c.device, c.w)
			}
		}
	}
}

// portWindow is port range r of device d.
func portWindow(d Device, r PortRange) window {
	return window{fmt.Sprintf("device %q", d.Name), uint64(r.Base), uint64(r.Size)}
}

// hostPorts lists the port ranges the hypervisor keeps: Limits.HostPorts
// and the hv.IOPort entries of Limits.HostReserved.
func (v *validator) hostPorts() []hv.Region {
	list := v.lim.HostPorts
	for _, r := range v.lim.HostReserved {
		if r.Kind == hv.IOPort {
			list = append(list[:len(list):len(list)], r)
		}
	}
	return list
}

// ioPorts checks the devices' I/O port ranges, which are passed through
// at the same port numbers: disjoint from each other and from the
// console's ports inside the VM, from the ports the hypervisor keeps,
// and from the ranges of earlier accepted VMs (rule 5 for ports).
func (v *validator) ioPorts(vm *VM) {
	var con window
	conOK := false
	if vm.Console != nil {
		if r, ok := vm.Console.Ports(); ok {
			con, conOK = window{"console", uint64(r.Base), uint64(r.Size)}, true
		}
	}
	host := v.hostPorts()
	var mine []window // this VM's ranges so far
	for i, d := range vm.Devices {
		for j, r := range d.Ports {
			field := fmt.Sprintf("devices[%d].ports[%d]", i, j)
			w := portWindow(d, r)
			if conOK && w.overlaps(con) {
				v.fail(vm, field, ErrOverlap, "ports %s overlap the console's ports %s", w, con)
			}
			for _, o := range mine {
				if w.overlaps(o) {
					v.fail(vm, field, ErrPortInUse, "ports %s overlap ports %s of %s", w, o, o.what)
				}
			}
			mine = append(mine, w)
			for _, h := range host {
				if hw := (window{h.Name, uint64(h.Base), h.Size}); w.overlaps(hw) {
					v.fail(vm, field, ErrHostReserved, "ports %s overlap the hypervisor's %s ports %s", w, h.Name, hw)
				}
			}
			for _, c := range v.ports {
				if w.overlaps(c.w) {
					v.fail(vm, field, ErrPortInUse, "ports %s are already passed through to %s (device %q ports %s)", w, c.vm.Label(), c.device, c.w)
				}
			}
		}
	}
}

// images checks that the kernel and initrd exist, are non-empty and fit
// into the VM's memory together, and runs CheckKernel.
func (v *validator) images(vm *VM) {
	if v.lim.ImageSize == nil {
		return
	}
	var total uint64
	kernelOK := true
	for _, img := range []struct{ field, name string }{{"kernel", vm.Kernel}, {"initrd", vm.Initrd}} {
		if img.name == "" {
			if img.field == "kernel" {
				v.fail(vm, img.field, ErrImageMissing, "no kernel image given")
				kernelOK = false
			}
			continue
		}
		size, ok := v.lim.ImageSize(img.name)
		switch {
		case !ok:
			v.fail(vm, img.field, ErrImageMissing, "image %q not found", img.name)
		case size <= 0:
			v.fail(vm, img.field, ErrImageEmpty, "image %q is empty", img.name)
		default:
			total += uint64(size)
			continue
		}
		if img.field == "kernel" {
			kernelOK = false
		}
	}
	if total > vm.Memory.Size {
		v.fail(vm, "memory", ErrImageTooLarge, "size %#x is smaller than the kernel and initrd together (%#x bytes)", vm.Memory.Size, total)
	}
	if kernelOK && v.lim.CheckKernel != nil {
		if err := v.lim.CheckKernel(vm.Kernel); err != nil {
			v.fail(vm, "kernel", ErrBadImage, "image %q: %v", vm.Kernel, err)
		}
	}
}

// ram charges the VM's memory to the guest RAM budget.
func (v *validator) ram(vm *VM) {
	if v.lim.GuestRAM == 0 {
		return
	}
	left := v.lim.GuestRAM - min(v.ramUsed, v.lim.GuestRAM)
	if vm.Memory.Size > left {
		v.fail(vm, "memory", ErrNoHostRAM, "size %#x does not fit: %#x of the %#x bytes of guest RAM are left after the VMs before it",
			vm.Memory.Size, left, v.lim.GuestRAM)
	}
}

// claim records the host resources of an accepted VM.
func (v *validator) claim(vm *VM) {
	v.ramUsed += vm.Memory.Size
	for _, d := range vm.Devices {
		if d.HasWindow() {
			v.ranges = append(v.ranges, claim{vm: vm, device: d.Name, w: paWindow(d)})
		}
		for _, r := range d.Ports {
			v.ports = append(v.ports, claim{vm: vm, device: d.Name, w: portWindow(d, r)})
		}
		for _, irq := range d.IRQs {
			v.irqs[irq] = &claim{vm: vm, device: d.Name}
		}
	}
}
