// hv/amd64: x86-64 CPU support for tamavisor.
// SPDX-License-Identifier: BSD-3-Clause

package amd64

// MaxCPUs bounds the physical CPUs tamavisor uses on amd64.
const MaxCPUs = 8

// apStackSize is each application processor's stack: the AP runs only
// the mailbox loop and the vendor world switch (no Go code).
const apStackSize = 16 << 10
