// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

// Package hotpatch is the control plane for live-patching the running
// tamavisor image, modelled on Xen's livepatch sysctl interface: an operator
// uploads named payloads, checks them against the running image, applies
// them (the patched functions are redirected to the payload's copies),
// reverts them, atomically replaces every applied payload with a new one,
// and unloads them.
//
// The package owns the bookkeeping only: names, the per-payload state
// machine (LOADED, CHECKED, APPLIED), the last result of each payload (rc),
// the paginated list with its version counter, the single pending action,
// and the locking that keeps these consistent. Everything that depends on
// the payload format or on the architecture (parsing and authenticating a
// payload, checking it against the image, stopping the world and writing
// trampolines) sits behind the Engine interface, implemented per
// architecture; host tests use a fake Engine.
//
// The state diagram, the errno table and the locking design are in
// docs/hotpatch.md; the comments here refer to it rather than repeat it.
//
// Like Xen, actions are asynchronous: Manager.Action validates the request,
// marks the payload pending (rc EAGAIN), starts the engine work on its own
// goroutine and returns; the client polls Manager.Get or Manager.List until
// rc is no longer EAGAIN. Only one action is pending at a time in a Manager.
//
// It is plain portable Go (standard library only: no os, no syscall, no
// cgo, no unsafe, no build tags), so it builds and runs inside the
// hypervisor on every TamaGo target (GOOS=tamago, arm64 and amd64) and is
// tested on the build host with `go test -race`.
package hotpatch
