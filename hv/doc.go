// hv: the architecture-neutral core of the tamavisor hypervisor.
// SPDX-License-Identifier: BSD-3-Clause

// Package hv is the architecture-neutral core of tamavisor: address types,
// the description a board gives of its machine (Platform), and, as later
// issues land, partitions, vCPU scheduling, hypercalls and MMIO dispatch.
//
// It builds for every GOOS and never needs a build tag: CPU plumbing lives
// in hv/arm64 and hv/amd64, which export the same names
// (ARCHITECTURE.md "One image, two architectures").
package hv
