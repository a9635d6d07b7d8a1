// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"strings"

	"github.com/tamavisor/tamavisor/hv"
)

// Problems Parse finds: the manifest as a whole is rejected.
const (
	ErrTooLarge     = hv.Error("manifest: too large")
	ErrSyntax       = hv.Error("manifest: invalid JSON")
	ErrUnknownField = hv.Error("manifest: unknown field")
	ErrDuplicateKey = hv.Error("manifest: repeated key")
	ErrType         = hv.Error("manifest: wrong JSON type")
	ErrNumber       = hv.Error("manifest: malformed number")
	ErrMissing      = hv.Error("manifest: required field missing")
	ErrCount        = hv.Error("manifest: too many or too few entries")
	ErrName         = hv.Error("manifest: invalid name")
	ErrString       = hv.Error("manifest: invalid string")
	ErrRange        = hv.Error("manifest: value out of range")
	ErrAlign        = hv.Error("manifest: address or size misaligned") // a page; ConsolePorts for a console port
	// ErrIRQ: an interrupt outside its range (an SPI for a device or a
	// PL011 console, an ISA IRQ for a port console).
	ErrIRQ = hv.Error("manifest: interrupt number out of range")
	// ErrConflict: fields that exclude each other are both given (a
	// console with base and port), or a field needs one that is missing
	// (a device's pa without a memory window).
	ErrConflict = hv.Error("manifest: conflicting fields")
)

// Problems Validate finds: the VM concerned is rejected.
const (
	ErrDuplicateName = hv.Error("manifest: name used by an earlier VM")
	ErrDuplicateID   = hv.Error("manifest: id used by an earlier VM")
	ErrNoCPU         = hv.Error("manifest: vCPU pinned to a CPU that does not exist")
	ErrOverlap       = hv.Error("manifest: windows overlap in the VM's address space")
	ErrReserved      = hv.Error("manifest: window overlaps a hypervisor-reserved window")
	ErrIRQInUse      = hv.Error("manifest: interrupt used twice")
	ErrPAInUse       = hv.Error("manifest: passthrough range already assigned")
	ErrPortInUse     = hv.Error("manifest: I/O port range already assigned")
	ErrHostReserved  = hv.Error("manifest: passthrough of a resource the hypervisor keeps")
	ErrImageMissing  = hv.Error("manifest: image not found")
	ErrImageEmpty    = hv.Error("manifest: image is empty")
	ErrImageTooLarge = hv.Error("manifest: images do not fit in the VM's memory")
	ErrBadImage      = hv.Error("manifest: image rejected")
	ErrNoHostRAM     = hv.Error("manifest: not enough host RAM left for the VM")
)

// FieldError is one problem in a manifest. It wraps one of the Err*
// sentinels (Kind), so errors.Is works on it and on any errors.Join of
// FieldErrors.
type FieldError struct {
	// VM is `vm "name"`, `vms[i]` when the VM has no valid name yet, or
	// empty for problems outside any VM (e.g. a JSON syntax error).
	VM string
	// Field is the JSON path inside the VM, e.g. "memory.size" or
	// "devices[1].irqs[0]"; empty if the problem is not about one field.
	Field string
	// Msg says what is wrong, with the offending values.
	Msg  string
	Kind error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.VM != "" {
		b.WriteString(e.VM)
	} else {
		b.WriteString("manifest")
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Kind }
