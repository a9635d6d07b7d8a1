// hotpatch/hpfixture: the live-patch test fixture (build tag hpfixture).
// SPDX-License-Identifier: BSD-3-Clause

// Package hpfixture is compiled into test images only (build tag
// hpfixture). It holds functions with a deliberate, observable bug, for
// the live-patch integration tests (ci/hotpatch_apply_test.go), in three
// versions chosen by build tags:
//
//	hpfixture                 version 0: Checksum skips the last byte
//	hpfixture,hpfix1          version 1: the fix
//	hpfixture,hpfix2          version 2: the fix, written differently
//
// The running test image is version 0; cmd/mkpatch builds payloads from
// version 1 and 2 images, so applying one changes what the shell command
// and the hypercall below return while the VMs run. Register adds:
//
//   - the shell command "hpfix sum HEX" (checksum of the bytes) and
//     "hpfix walk DEPTH [ROUNDS]" (the recursive, allocating,
//     GC-running walk, checked against an independent computation);
//   - the hypercall HC_HPFIX_SUM (vmm.HC_FIXTURE_FIRST): x1 = guest
//     address, x2 = length (at most MaxSum bytes); returns the checksum in
//     x0 and the version in x1, or HC_EINVAL in x0 for a buffer that is
//     not the guest's RAM.
//
// Walk is there for Go runtime safety: the patched version allocates,
// holds heap pointers and pointers into its callers' frames across
// deep recursion (so the stack is copied while payload frames are on it)
// and calls runtime.GC every 64 levels (so the collector scans payload
// frames with their stack maps). A wrong stack map shows as a wrong
// result or a crash.
package hpfixture
