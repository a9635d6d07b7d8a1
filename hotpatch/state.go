// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import "fmt"

// State is the state of an uploaded payload. The transitions between states
// are drawn in docs/hotpatch.md ("State diagram").
type State uint8

// Payload states. Xen folds LOADED into upload (its payloads are CHECKED
// as soon as they are uploaded); here CHECK is a separate action, so a
// payload that fails its check stays visible with its error.
const (
	StateLoaded  State = 1 // uploaded and parsed, not checked against the image
	StateChecked State = 2 // checked against the running image; not applied
	StateApplied State = 3 // trampolines in place: its functions are live
)

var stateNames = [...]string{
	StateLoaded:  "LOADED",
	StateChecked: "CHECKED",
	StateApplied: "APPLIED",
}

// String returns "LOADED", "CHECKED" or "APPLIED", or "State(n)".
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText encodes s by its name, so Status carries "state":"APPLIED"
// in JSON. A State without a name is an error.
func (s State) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) || stateNames[s] == "" {
		return nil, errorf(EINVAL, "invalid payload state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state name as MarshalText writes it.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n != "" && n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return errorf(EINVAL, "unknown payload state %q", b)
}

// ActionKind is an operation Manager.Action performs on a payload. Which
// action is allowed in which state, and the state it leads to, is in
// docs/hotpatch.md ("State diagram").
type ActionKind uint8

// Actions. Xen numbers UNLOAD, REVERT, APPLY and REPLACE 1 to 4 and has no
// CHECK action; the numbering here is this package's own.
const (
	ActionCheck   ActionKind = 1 // LOADED|CHECKED → CHECKED: validate against the image
	ActionApply   ActionKind = 2 // CHECKED → APPLIED: re-check, stop the world, patch
	ActionRevert  ActionKind = 3 // APPLIED → CHECKED: stop the world, unpatch
	ActionReplace ActionKind = 4 // CHECKED → APPLIED, every other APPLIED → CHECKED, atomically
	ActionUnload  ActionKind = 5 // LOADED|CHECKED → removed (synchronous)
)

var actionNames = [...]string{
	ActionCheck:   "CHECK",
	ActionApply:   "APPLY",
	ActionRevert:  "REVERT",
	ActionReplace: "REPLACE",
	ActionUnload:  "UNLOAD",
}

// String returns the action's name ("APPLY") or "ActionKind(n)".
func (a ActionKind) String() string {
	if int(a) < len(actionNames) && actionNames[a] != "" {
		return actionNames[a]
	}
	return fmt.Sprintf("ActionKind(%d)", uint8(a))
}

// MarshalText encodes a by its name. An ActionKind without a name is an
// error.
func (a ActionKind) MarshalText() ([]byte, error) {
	if int(a) >= len(actionNames) || actionNames[a] == "" {
		return nil, errorf(EINVAL, "invalid action %d", uint8(a))
	}
	return []byte(actionNames[a]), nil
}

// UnmarshalText decodes an action name as MarshalText writes it.
func (a *ActionKind) UnmarshalText(b []byte) error {
	for i, n := range actionNames {
		if n != "" && n == string(b) {
			*a = ActionKind(i)
			return nil
		}
	}
	return errorf(EINVAL, "unknown action %q", b)
}

// from returns the states a is allowed from, as a bit set indexed by State.
func (a ActionKind) from() uint8 {
	switch a {
	case ActionCheck, ActionUnload:
		return 1<<StateLoaded | 1<<StateChecked
	case ActionApply, ActionReplace:
		return 1 << StateChecked
	case ActionRevert:
		return 1 << StateApplied
	}
	return 0
}

// allowedFrom reports whether a may be started on a payload in state s.
func (a ActionKind) allowedFrom(s State) bool { return a.from()&(1<<s) != 0 }

// fromNames lists the states a is allowed from, for error messages.
func (a ActionKind) fromNames() string {
	out := ""
	for s := StateLoaded; s <= StateApplied; s++ {
		if a.allowedFrom(s) {
			if out != "" {
				out += " or "
			}
			out += s.String()
		}
	}
	return out
}

// Status is what Manager.Get and Manager.List report for one payload. In
// JSON it reads {"name":"fix-1","state":"CHECKED","rc":0,"error":""}.
type Status struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	// RC is the result of the last action: 0 if it succeeded, EAGAIN while
	// an action is pending, otherwise the Errno it failed with. A refused
	// request (wrong state, EBUSY) does not change it.
	RC Errno `json:"rc"`
	// Error is the message of the failure RC reports, "" if RC is 0 or
	// EAGAIN.
	Error string `json:"error"`
}

// ListResult is one page of Manager.List.
type ListResult struct {
	// Version changes (it only grows) whenever a payload is uploaded or
	// unloaded. A client paging through the list restarts when it sees
	// Version change between pages. State changes do not bump it: every
	// page reports the current states.
	Version uint64 `json:"version"`
	// Entries are the payloads from index start, in upload order.
	Entries []Status `json:"entries"`
	// Remaining is the number of payloads after this page.
	Remaining int `json:"remaining"`
}
