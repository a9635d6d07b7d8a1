// hotpatch/gomodule: make the Go runtime know live-patch code.
// SPDX-License-Identifier: BSD-3-Clause

// Package gomodule registers the code of a live patch with the Go runtime
// as a module of its own, the way the runtime learns about a plugin: a
// runtime.moduledata record whose pclntab tables (built by
// hotpatch/gofunc.Build from the metadata the compiler produced for the
// fixed functions) describe the payload text, appended to the runtime's
// module list. From then on findfunc resolves payload PCs, so the garbage
// collector scans goroutine stacks with payload frames using their stack
// maps, stack growth copies and adjusts them, and tracebacks name them
// (docs/hotpatch.md, "Go runtime safety").
//
// The record mirrors runtime.moduledata of Go 1.25 (tamago-go1.25.7),
// field for field; a different runtime gets ErrRuntime from Register.
// Before the first registration Register checks the mirror against the
// running program's own first module (pcHeader magic and pointer size,
// text bounds, ftab length, the list's end), so a layout mismatch is a
// refusal, never a corruption. Registered modules are never removed: a
// goroutine may be parked in payload code after the trampolines are
// reverted.
//
// The package needs the runtime's lastmoduledatap, which the runtime
// exports for linkname (it is on the runtime's "hall of shame" list of
// symbols kept stable for third-party users). It runs on every target
// built with Go 1.25 (tamago arm64 and amd64, and linux for the tests,
// which register a module for fake code and resolve it through
// runtime.FuncForPC); on other Go versions Register returns ErrRuntime.
package gomodule
