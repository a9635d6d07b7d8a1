// hotpatch/gomodule: make the Go runtime know live-patch code.
// SPDX-License-Identifier: BSD-3-Clause

package gomodule

import "errors"

// Errors Register returns, wrapped with details.
var (
	// ErrRuntime: the running Go runtime is not the one whose module
	// record this package mirrors (Go 1.25).
	ErrRuntime = errors.New("gomodule: unsupported Go runtime (module layout is Go 1.25's)")
	// ErrTables: the tables do not describe the text they are given for.
	ErrTables = errors.New("gomodule: bad module tables")
)
