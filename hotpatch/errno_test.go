// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestErrnoNames(t *testing.T) {
	for n, want := range map[Errno]string{
		EINVAL: "EINVAL", EEXIST: "EEXIST", ENOENT: "ENOENT", E2BIG: "E2BIG",
		EBUSY: "EBUSY", EAGAIN: "EAGAIN", ENAMETOOLONG: "ENAMETOOLONG",
		EPERM: "EPERM", ETIMEDOUT: "ETIMEDOUT", ENOEXEC: "ENOEXEC", ENOMEM: "ENOMEM",
		0: "OK", 999: "Errno(999)",
	} {
		if got := n.String(); got != want {
			t.Errorf("Errno(%d).String() = %q, want %q", int(n), got, want)
		}
		if got := n.Error(); got != want {
			t.Errorf("Errno(%d).Error() = %q, want %q", int(n), got, want)
		}
	}
	// Xen's public errno.h values, which rc reports.
	if EINVAL != 22 || EEXIST != 17 || EBUSY != 16 || EAGAIN != 11 || ENAMETOOLONG != 36 {
		t.Error("errno values differ from xen/include/public/errno.h")
	}
}

func TestErrorWraps(t *testing.T) {
	cause := fmt.Errorf("quiesce: %w", ETIMEDOUT)
	err := error(&Error{Errno: EBUSY, Msg: `payload "a": APPLY failed in apply`, Err: cause})
	if !errors.Is(err, EBUSY) {
		t.Error("errors.Is(err, EBUSY) = false")
	}
	if !errors.Is(err, cause) || !errors.Is(err, ETIMEDOUT) {
		t.Error("the cause is not reachable through errors.Is")
	}
	if errors.Is(err, EINVAL) {
		t.Error("errors.Is(err, EINVAL) = true")
	}
	var n Errno
	if !errors.As(err, &n) || n != EBUSY {
		t.Errorf("errors.As gives Errno %v, want EBUSY first", n)
	}
	want := `hotpatch: payload "a": APPLY failed in apply: quiesce: ETIMEDOUT (EBUSY)`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
	if got := errorf(EEXIST, "upload %q", "x").Error(); got != `hotpatch: upload "x" (EEXIST)` {
		t.Errorf("Error() without cause = %q", got)
	}
	// A wrapped *Error still matches.
	if !errors.Is(fmt.Errorf("shell: %w", err), EBUSY) {
		t.Error("errors.Is through fmt.Errorf wrapping failed")
	}
}

func TestErrnoOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Errno
	}{
		{errors.New("plain"), EINVAL},
		{EPERM, EPERM},
		{fmt.Errorf("sig: %w", EPERM), EPERM},
		{errorf(ETIMEDOUT, "x"), ETIMEDOUT},
		{EAGAIN, EINVAL}, // reserved for "pending"
		{Errno(0), EINVAL},
	} {
		if got := errnoOf(tc.err, EINVAL); got != tc.want {
			t.Errorf("errnoOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	s := Status{Name: "fix-1", State: StateApplied, RC: 0}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"fix-1","state":"APPLIED","rc":0,"error":""}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	var back Status
	if err := json.Unmarshal([]byte(`{"name":"x","state":"CHECKED","rc":16,"error":"busy"}`), &back); err != nil {
		t.Fatal(err)
	}
	if back != (Status{Name: "x", State: StateChecked, RC: EBUSY, Error: "busy"}) {
		t.Errorf("decoded %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"state":"GONE"}`), &back); !errors.Is(err, EINVAL) {
		t.Errorf("unknown state name: err %v, want EINVAL", err)
	}
	if _, err := json.Marshal(Status{State: 7}); err == nil {
		t.Error("marshalling State(7) succeeded")
	}
	b, err = json.Marshal(ListResult{Version: 3, Entries: []Status{}, Remaining: 2})
	if err != nil || string(b) != `{"version":3,"entries":[],"remaining":2}` {
		t.Errorf("ListResult JSON %s, %v", b, err)
	}
}

func TestTextNames(t *testing.T) {
	for s := StateLoaded; s <= StateApplied; s++ {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s || s.String() != string(b) {
			t.Errorf("state %v: round trip %q → %v, %v", s, b, back, err)
		}
	}
	for a := ActionCheck; a <= ActionUnload; a++ {
		b, err := a.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back ActionKind
		if err := back.UnmarshalText(b); err != nil || back != a || a.String() != string(b) {
			t.Errorf("action %v: round trip %q → %v, %v", a, b, back, err)
		}
	}
	if got := ActionKind(9).String(); got != "ActionKind(9)" {
		t.Errorf("ActionKind(9).String() = %q", got)
	}
	if got := State(0).String(); got != "State(0)" {
		t.Errorf("State(0).String() = %q", got)
	}
	var a ActionKind
	if err := a.UnmarshalText([]byte("apply")); !errors.Is(err, EINVAL) {
		t.Errorf("lower-case action name accepted: %v", err)
	}
	if _, err := ActionKind(0).MarshalText(); !errors.Is(err, EINVAL) {
		t.Errorf("ActionKind(0).MarshalText: %v", err)
	}
	if got := ActionUnload.fromNames(); !strings.Contains(got, "LOADED or CHECKED") {
		t.Errorf("UNLOAD allowed from %q", got)
	}
}
