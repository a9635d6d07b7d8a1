// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

package hv

// Version and Revision identify the build. The Makefile sets them with
// -ldflags "-X github.com/tamavisor/tamavisor/hv.Revision=$(git rev-parse ...)".
var (
	Version  = "0.1.0-dev"
	Revision = "unknown"
)
