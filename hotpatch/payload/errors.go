// hotpatch/payload: live-patch payload format, signatures and checks.
// SPDX-License-Identifier: BSD-3-Clause

package payload

import "errors"

// Refusal classes. Every error this package returns wraps exactly one of
// them with %w (a malformed relocation wraps both ErrFormat and ErrReloc),
// and its message names the section, symbol, offset or value at fault.
var (
	// ErrFormat: the ELF file or a Payload value breaks the format in
	// doc.go (bad header, section out of range or overlapping, record
	// out of the text, name too long, too many records ...).
	ErrFormat = errors.New("malformed payload")
	// ErrSignature: the signature trailer is missing or inconsistent, the
	// key id names no trusted key, or the signature does not verify.
	ErrSignature = errors.New("payload signature refused")
	// ErrBuildID: the payload was built for another hypervisor image.
	ErrBuildID = errors.New("build-id mismatch")
	// ErrArch: the payload, the image or a request is for another
	// architecture.
	ErrArch = errors.New("architecture mismatch")
	// ErrUnknownSymbol: a function or relocation symbol is not in the
	// running image.
	ErrUnknownSymbol = errors.New("unknown symbol")
	// ErrTooSmall: an old function is shorter than the trampoline that
	// would be written over its entry.
	ErrTooSmall = errors.New("old function too small for the trampoline")
	// ErrSizeMismatch: an old function's size in the image differs from
	// the size the payload was built against.
	ErrSizeMismatch = errors.New("old function size mismatch")
	// ErrBusy: a function is already patched by an applied payload.
	ErrBusy = errors.New("function already patched")
	// ErrReloc: a relocation kind is unknown or not for this
	// architecture, or the instruction it patches is not one it applies
	// to.
	ErrReloc = errors.New("unsupported relocation")
	// ErrRange: a relocation result, branch distance or address does not
	// fit its field or is misaligned.
	ErrRange = errors.New("value out of range")
)
