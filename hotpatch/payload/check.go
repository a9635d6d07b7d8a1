// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
)

// Image is the running hypervisor image as Check and Link see it.
type Image interface {
	// Arch is the architecture the image runs on.
	Arch() Arch
	// BuildID is the image's build-id.
	BuildID() []byte
	// Symbol returns the address and size (st_size) of the function or
	// object named name, and ok = false if the image has no such
	// symbol.
	Symbol(name string) (addr, size uint64, ok bool)
}

// FuncImage is an Image that tells functions from data objects. Check
// refuses to replace a symbol of such an image that is not a function
// (selfimage.Image implements it).
type FuncImage interface {
	Image
	IsFunc(name string) bool
}

// Check is the CHECK step of a live patch: it decides whether p can be
// applied to img with its text linked at textAddr, without changing
// anything. img must not be nil; Check only reads p. It returns nil, or
// the first refusal found, wrapping:
//
//   - ErrFormat: p breaks the format (a Payload built in memory is held to
//     the rules Parse applies).
//   - ErrArch: p is for another architecture than img.
//   - ErrBuildID: p was built for another image (build-ids differ).
//   - ErrRange: textAddr is not TextAlign-aligned or the text wraps the
//     address space; a trampoline from an old function to its new code
//     cannot be encoded (amd64: farther than ±2 GiB; arm64: old entry not
//     8-byte aligned); an old function overlaps the new text or another
//     old function; or a relocation's result does not fit its field.
//   - ErrUnknownSymbol: a function or relocation symbol is not in img, or
//     a replaced symbol is not a function (when img is a FuncImage).
//     Symbols resolve in the running image only, never in the payload (see
//     doc.go, "Relocations").
//   - ErrBusy: busy(name) is true for a function p replaces. busy reports
//     functions already patched by applied payloads; nil means none are.
//   - ErrSizeMismatch: an old function's size is not the Func's OldSize.
//   - ErrTooSmall: an old function is shorter than TrampolineSize.
//   - ErrReloc: a relocation kind is unknown for the architecture.
//
// p.Depends is not checked here: only the caller knows which payloads are
// applied and in which order.
func (p *Payload) Check(img Image, textAddr uint64, busy func(fn string) bool) error {
	if err := p.validate(); err != nil {
		return err
	}
	if a := img.Arch(); a != p.Arch {
		return fmt.Errorf("payload: %w: payload %q is for %v, image is %v", ErrArch, p.Name, p.Arch, a)
	}
	if id := img.BuildID(); !bytes.Equal(id, p.BuildID) {
		return fmt.Errorf("payload: %w: payload %q is for build-id %x, image is %x", ErrBuildID, p.Name, p.BuildID, id)
	}
	if err := p.checkPlacement(textAddr); err != nil {
		return err
	}
	textEnd := textAddr + uint64(len(p.Text))
	tsize := uint64(TrampolineSize(p.Arch))

	type old struct {
		name       string
		start, end uint64
	}
	olds := make([]old, 0, len(p.Funcs))
	for _, f := range p.Funcs {
		addr, size, ok := img.Symbol(f.Name)
		switch {
		case !ok:
			return fmt.Errorf("payload: %w: function %q", ErrUnknownSymbol, f.Name)
		case !isFunc(img, f.Name):
			return fmt.Errorf("payload: %w: %q is a data object of the image, not a function", ErrUnknownSymbol, f.Name)
		case busy != nil && busy(f.Name):
			return fmt.Errorf("payload: %w: function %q", ErrBusy, f.Name)
		case size != f.OldSize:
			return fmt.Errorf("payload: %w: function %q is %#x bytes in the image, the payload expects %#x", ErrSizeMismatch, f.Name, size, f.OldSize)
		case size < tsize:
			return fmt.Errorf("payload: %w: function %q is %d bytes, the %v trampoline %d", ErrTooSmall, f.Name, size, p.Arch, tsize)
		case addr+size < addr:
			return fmt.Errorf("payload: %w: function %q [%#x, +%#x) wraps the address space", ErrRange, f.Name, addr, size)
		case addr < textEnd && textAddr < addr+size:
			return fmt.Errorf("payload: %w: function %q [%#x, +%#x) overlaps the new text [%#x, %#x)", ErrRange, f.Name, addr, size, textAddr, textEnd)
		}
		if _, err := trampoline(p.Arch, addr, textAddr+uint64(f.Offset)); err != nil {
			return fmt.Errorf("payload: function %q: %w", f.Name, err)
		}
		olds = append(olds, old{f.Name, addr, addr + size})
	}
	slices.SortFunc(olds, func(a, b old) int { return cmp.Compare(a.start, b.start) })
	for i := 1; i < len(olds); i++ {
		if a, b := olds[i-1], olds[i]; b.start < a.end {
			return fmt.Errorf("payload: %w: old functions %q [%#x, %#x) and %q [%#x, %#x) overlap", ErrRange, a.name, a.start, a.end, b.name, b.start, b.end)
		}
	}
	_, err := p.Link(img, textAddr)
	return err
}

// isFunc reports whether img says name is a function; an Image that
// cannot tell (not a FuncImage) is taken at its word.
func isFunc(img Image, name string) bool {
	fi, ok := img.(FuncImage)
	return !ok || fi.IsFunc(name)
}
