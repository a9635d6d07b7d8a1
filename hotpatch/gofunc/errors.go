// hotpatch/gofunc: Go runtime function metadata carried by live patches.
// SPDX-License-Identifier: BSD-3-Clause

package gofunc

import "errors"

// Refusal classes. Every error of this package wraps one of them with %w
// and names the function, table and offset at fault.
var (
	// ErrFormat: an ELF image, an encoding or a Func breaks the Go 1.25
	// layout or this package's rules (bad header, table without its
	// terminator, offset out of range, count over its limit ...).
	ErrFormat = errors.New("malformed function metadata")
	// ErrUnsupported: a function's metadata uses something this package
	// cannot carry position-independently (FUNCDATA_WrapInfo, an unknown
	// funcdata or pcdata index), or an image is not a Go 1.25 amd64 or
	// arm64 executable.
	ErrUnsupported = errors.New("unsupported function metadata")
	// ErrNotFound: Image.Func was asked for a name that is not in the
	// image's function table, or that names more than one function.
	ErrNotFound = errors.New("function not found")
	// ErrLayout: Build's offsets and text size do not hold the
	// functions (out of order, overlapping, outside the text, too many
	// functions in one findfunc bucket).
	ErrLayout = errors.New("bad function layout")
)
