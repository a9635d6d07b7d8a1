// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import "time"

// Engine parses, checks and applies payloads for one running image. It is
// implemented per architecture (and by a fake in the host tests).
//
// The Manager calls Load from Upload's goroutine and the other methods from
// the goroutine of the one pending action, never while holding its lock and
// never two of Check, Apply and Revert at once: while an action is pending,
// every other action is refused. Load may run concurrently with that one
// action (uploads are not actions), so Load must not touch state that
// Check, Apply or Revert change without its own synchronisation.
//
// Errors are recorded as the payload's rc: an Errno anywhere in an error's
// chain (return EBUSY, or fmt.Errorf("...: %w", ETIMEDOUT)) chooses it;
// an error without one is recorded as EINVAL.
type Engine interface {
	// Load parses and authenticates a payload at upload time (signature,
	// format). raw belongs to the caller once Load returns: Load copies
	// what it keeps. On error nothing is kept and Release is not called.
	Load(raw []byte) (Loaded, error)

	// Check validates p against the running image and against applied,
	// the payloads that will stay applied alongside p (two payloads may
	// not touch one function). It changes nothing. The Manager passes
	// the applied payloads for APPLY, and none for CHECK and REPLACE:
	// CHECK cannot know whether p will be applied beside them or replace
	// them, and REPLACE reverts them all (docs/hotpatch.md, "Actions").
	Check(p Loaded, applied []Loaded) error

	// Apply stops the world within timeout, reverts revertFirst (newest
	// first) and applies p, all or nothing: on error the image is as it
	// was. If the world cannot be stopped in time it returns an error
	// carrying EBUSY or ETIMEDOUT.
	Apply(p Loaded, revertFirst []Loaded, timeout time.Duration) error

	// Revert stops the world within timeout and removes p's trampolines,
	// all or nothing, with the same timeout errors as Apply.
	Revert(p Loaded, timeout time.Duration) error
}

// Loaded is a payload an Engine has parsed.
type Loaded interface {
	// Targets names the functions the payload replaces.
	Targets() []string
	// Release frees the payload's memory. The Manager calls it exactly
	// once, after the payload is unloaded (or when an upload is discarded
	// because its name is taken), and never touches the payload again.
	Release()
}

// Stacker is a Loaded that knows its own payload id and the id of the
// payload it stacks on (nil if none). The Manager then keeps the stack
// in order (docs/hotpatch.md, "Stacking"): APPLY needs the payload below
// to be the newest applied, REPLACE refuses a payload that stacks on
// another, and REVERT refuses a payload another applied one stacks on.
type Stacker interface {
	ID() []byte
	Depends() []byte
}

// stackOf returns l's id and the id it depends on, or nils if l is not a
// Stacker.
func stackOf(l Loaded) (id, depends []byte) {
	if s, ok := l.(Stacker); ok {
		return s.ID(), s.Depends()
	}
	return nil, nil
}
