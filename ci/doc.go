// ci/qemu: QEMU harness for tamavisor integration tests.
// SPDX-License-Identifier: BSD-3-Clause

// Package ci holds tamavisor's integration tests: they boot the real board
// images under QEMU (TCG) on the Linux build host, through package ci/qemu,
// and drive the hypervisor's serial shell. The tests live in package ci_test
// and skip, with one "SKIP <board>: <reason>" line each, while an image or
// QEMU is missing, unless TAMAVISOR_REQUIRE_IMAGES=1 makes that a failure.
//
// Run them with "go test -v ./ci"; serial logs go to build/logs/<test>.log.
package ci
