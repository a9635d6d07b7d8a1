// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// outcome is what the state diagram of docs/hotpatch.md gives
// for each state and action: a new state, removal, or refusal with EINVAL.
type outcome struct {
	state   State // state after the action succeeds
	removed bool  // the payload is gone (UNLOAD)
	refused bool  // EINVAL, nothing changes
}

var diagram = map[State]map[ActionKind]outcome{
	StateLoaded: {
		ActionCheck:   {state: StateChecked},
		ActionApply:   {refused: true},
		ActionRevert:  {refused: true},
		ActionReplace: {refused: true},
		ActionUnload:  {removed: true},
	},
	StateChecked: {
		ActionCheck:   {state: StateChecked},
		ActionApply:   {state: StateApplied},
		ActionRevert:  {refused: true},
		ActionReplace: {state: StateApplied},
		ActionUnload:  {removed: true},
	},
	StateApplied: {
		ActionCheck:   {refused: true},
		ActionApply:   {refused: true},
		ActionRevert:  {state: StateChecked},
		ActionReplace: {refused: true},
		ActionUnload:  {refused: true},
	},
}

// inState makes payload "p" in state s whose last action failed, so rc and
// the error message are set and a refused action can be seen not to touch
// them: LOADED after a failed CHECK, CHECKED after a failed APPLY, APPLIED
// after a failed REVERT.
func inState(t *testing.T, s State) (*Manager, *fakeEngine) {
	t.Helper()
	m, e := newTest(t)
	upload(t, m, "p", "f1,f2")
	failing := map[State]struct {
		op string
		a  ActionKind
	}{
		StateLoaded:  {"check", ActionCheck},
		StateChecked: {"apply", ActionApply},
		StateApplied: {"revert", ActionRevert},
	}[s]
	for _, a := range []ActionKind{ActionCheck, ActionApply} {
		if get(t, m, "p").State == s {
			break
		}
		act(t, m, "p", a)
	}
	e.setFail(failing.op, fmt.Errorf("fake: injected: %w", ETIMEDOUT))
	st := act(t, m, "p", failing.a)
	e.setFail(failing.op, nil)
	if st.State != s || st.RC != ETIMEDOUT || !strings.Contains(st.Error, "injected") {
		t.Fatalf("set-up for %v: status %+v", s, st)
	}
	e.takeCalls()
	return m, e
}

func TestStateActionTable(t *testing.T) {
	for _, s := range []State{StateLoaded, StateChecked, StateApplied} {
		for _, a := range []ActionKind{ActionCheck, ActionApply, ActionRevert, ActionReplace, ActionUnload} {
			want := diagram[s][a]
			t.Run(s.String()+"/"+a.String(), func(t *testing.T) {
				m, e := inState(t, s)
				before := get(t, m, "p")
				v0 := mustList(t, m, 0, 0).Version

				err := m.Action("p", a, 0)
				wait(t, m)
				switch {
				case want.refused:
					isErrno(t, err, EINVAL)
					for _, w := range []string{a.String(), s.String(), `"p"`} {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("message %q does not name %s", err, w)
						}
					}
					if after := get(t, m, "p"); after != before {
						t.Errorf("refused %v changed the status: %+v → %+v", a, before, after)
					}
					if c := e.takeCalls(); len(c) != 0 {
						t.Errorf("refused %v called the engine: %q", a, c)
					}
				case want.removed:
					if err != nil {
						t.Fatal(err)
					}
					_, err := m.Get("p")
					isErrno(t, err, ENOENT)
					if n := e.loaded(1).released.Load(); n != 1 {
						t.Errorf("released %d times", n)
					}
					if v := mustList(t, m, 0, 0).Version; v <= v0 {
						t.Errorf("version %d after unload, was %d", v, v0)
					}
				default:
					if err != nil {
						t.Fatal(err)
					}
					after := get(t, m, "p")
					if after != (Status{Name: "p", State: want.state}) {
						t.Errorf("after %v: %+v, want state %v with rc 0", a, after, want.state)
					}
					if v := mustList(t, m, 0, 0).Version; v != v0 {
						t.Errorf("version changed by %v: %d → %d", a, v0, v)
					}
				}
				if !want.removed && e.loaded(1).released.Load() != 0 {
					t.Error("a present payload was released")
				}
				if applied := want.state == StateApplied || (want.refused && s == StateApplied); applied != (len(e.liveIDs()) == 1) {
					t.Errorf("engine has %v applied", e.liveIDs())
				}
			})
		}
	}
}

func mustList(t testing.TB, m *Manager, start, nr int) ListResult {
	t.Helper()
	r, err := m.List(start, nr)
	if err != nil {
		t.Fatalf("List(%d, %d): %v", start, nr, err)
	}
	return r
}

func TestActionArguments(t *testing.T) {
	m, e := newTest(t)
	upload(t, m, "a", "f")
	isErrno(t, m.Action("nope", ActionCheck, 0), ENOENT)
	isErrno(t, m.Action("", ActionCheck, 0), EINVAL)
	isErrno(t, m.Action(strings.Repeat("a", 129), ActionCheck, 0), ENAMETOOLONG)
	isErrno(t, m.Action("a", 0, 0), EINVAL)
	isErrno(t, m.Action("a", ActionUnload+1, 0), EINVAL)
	isErrno(t, m.Action("a", ActionCheck, -time.Millisecond), EINVAL)
	if st := get(t, m, "a"); st != (Status{Name: "a", State: StateLoaded}) {
		t.Errorf("refused requests changed %+v", st)
	}
	if c := e.takeCalls(); len(c) != 0 {
		t.Errorf("engine called: %q", c)
	}
	_, err := m.Get("nope")
	isErrno(t, err, ENOENT)
	_, err = m.Get("")
	isErrno(t, err, EINVAL)
}

func TestTimeoutDefault(t *testing.T) {
	m, e := newTest(t)
	upload(t, m, "a", "f")
	act(t, m, "a", ActionCheck)
	act(t, m, "a", ActionApply) // timeout 0
	if err := m.Action("a", ActionRevert, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	wait(t, m)
	e.mu.Lock()
	got := slices.Clone(e.timeouts)
	e.mu.Unlock()
	if want := []time.Duration{DefaultTimeout, 5 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("engine timeouts %v, want %v", got, want)
	}
	if DefaultTimeout != 30*time.Millisecond {
		t.Errorf("DefaultTimeout %v, Xen's is 30ms", DefaultTimeout)
	}
}

func TestUploadDuplicate(t *testing.T) {
	m, e := newTest(t)
	upload(t, m, "a", "f")
	isErrno(t, m.Upload("a", []byte("g")), EEXIST)
	if n := len(e.loads); n != 1 {
		t.Errorf("duplicate upload was parsed: %d loads", n)
	}

	// The name is taken while Load runs (Load runs without the lock, so
	// it may upload itself): the second insert loses and its payload is
	// released, never stored.
	e.onLoad = func() {
		e.onLoad = nil
		upload(t, m, "b", "g")
	}
	isErrno(t, m.Upload("b", []byte("h")), EEXIST)
	loser, winner := e.loaded(3), e.loaded(2)
	if loser.targets[0] != "h" || loser.released.Load() != 1 || winner.released.Load() != 0 {
		t.Errorf("winner %v released %d, loser %v released %d",
			winner, winner.released.Load(), loser, loser.released.Load())
	}
	r := mustList(t, m, 0, MaxListNr)
	if len(r.Entries) != 2 || r.Entries[1].Name != "b" {
		t.Errorf("list %+v", r.Entries)
	}
	act(t, m, "b", ActionCheck)
	if c := e.takeCalls(); len(c) != 1 || c[0] != "check 2 []" {
		t.Errorf("b is not the first upload's payload: %q", c)
	}
}

func TestUploadLoadError(t *testing.T) {
	m, _ := newTest(t)
	v := mustList(t, m, 0, 0).Version
	err := m.Upload("bad", []byte("!"))
	isErrno(t, err, ENOEXEC)
	if !strings.Contains(err.Error(), "bad magic") || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("error %q lacks the cause or the name", err)
	}
	isErrno(t, m.Upload("bad", []byte("!!")), EINVAL) // no Errno in the cause
	_, err = m.Get("bad")
	isErrno(t, err, ENOENT)
	if r := mustList(t, m, 0, 1); r.Version != v || len(r.Entries) != 0 {
		t.Errorf("failed uploads changed the list: %+v (version was %d)", r, v)
	}
	isErrno(t, m.Upload("", []byte("f")), EINVAL)
	isErrno(t, m.Upload(strings.Repeat("x", MaxNameLen+1), []byte("f")), ENAMETOOLONG)
	upload(t, m, "bad", "f") // the name is free
}

type nilEngine struct{ fakeEngine }

func (*nilEngine) Load([]byte) (Loaded, error) { return nil, nil }

func TestUploadNilLoaded(t *testing.T) {
	m := NewManager(&nilEngine{})
	isErrno(t, m.Upload("a", nil), EINVAL)
	if r := mustList(t, m, 0, 1); len(r.Entries) != 0 {
		t.Errorf("stored %+v", r.Entries)
	}
}

func TestNewManagerNil(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewManager(nil) did not panic")
		}
	}()
	NewManager(nil)
}

func TestUnloadAppliedRefused(t *testing.T) {
	m, e := newTest(t)
	upload(t, m, "a", "f")
	act(t, m, "a", ActionCheck)
	act(t, m, "a", ActionApply)
	err := m.Action("a", ActionUnload, 0)
	isErrno(t, err, EINVAL)
	if !strings.Contains(err.Error(), "APPLIED") {
		t.Errorf("message %q does not name the state", err)
	}
	if e.loaded(1).released.Load() != 0 || get(t, m, "a").State != StateApplied {
		t.Error("applied payload unloaded")
	}
	act(t, m, "a", ActionRevert)
	act(t, m, "a", ActionUnload)
	if e.loaded(1).released.Load() != 1 {
		t.Error("not released after revert and unload")
	}
}

func TestApplyRechecks(t *testing.T) {
	m, e := newTest(t)
	upload(t, m, "a", "f1,f2")
	upload(t, m, "b", "f2,f3")
	act(t, m, "a", ActionCheck)
	act(t, m, "b", ActionCheck) // fine alone: CHECK validates against the image
	act(t, m, "a", ActionApply)
	e.takeCalls()

	// b now overlaps an applied payload: APPLY's re-check refuses it.
	st := act(t, m, "b", ActionApply)
	if st.State != StateChecked || st.RC != EEXIST || !strings.Contains(st.Error, "f2 already patched") {
		t.Errorf("b after overlapping APPLY: %+v", st)
	}
	if c := e.takeCalls(); !slices.Equal(c, []string{"check 2 [1]"}) {
		t.Errorf("engine calls %q, want only the re-check against a", c)
	}

	// An injected check failure (the image changed) stops APPLY too.
	act(t, m, "a", ActionRevert)
	e.setFail("check", fmt.Errorf("fake: build id mismatch: %w", EPERM))
	st = act(t, m, "b", ActionApply)
	if st.State != StateChecked || st.RC != EPERM || !strings.Contains(st.Error, "build id mismatch") {
		t.Errorf("b after failed re-check: %+v", st)
	}
	if len(e.liveIDs()) != 0 {
		t.Errorf("applied %v after failed re-check", e.liveIDs())
	}
	e.setFail("check", nil)
	if st := act(t, m, "b", ActionApply); st != (Status{Name: "b", State: StateApplied}) {
		t.Errorf("b after APPLY: %+v", st)
	}
}

func TestRevertFromMiddleAndStack(t *testing.T) {
	m, e := newTest(t)
	for i, n := range []string{"a", "b", "c", "d"} {
		upload(t, m, n, fmt.Sprintf("f%d", i))
		act(t, m, n, ActionCheck)
	}
	act(t, m, "a", ActionApply)
	act(t, m, "b", ActionApply)
	act(t, m, "c", ActionApply)
	act(t, m, "b", ActionRevert)
	e.takeCalls()
	act(t, m, "d", ActionReplace)
	want := []string{"check 4 []", "apply 4 revert [3 1]"} // newest first, b no longer applied
	if c := e.takeCalls(); !slices.Equal(c, want) {
		t.Errorf("engine calls %q, want %q", c, want)
	}
}

func TestReplace(t *testing.T) {
	m, e := newTest(t)
	upload(t, m, "a", "f1")
	upload(t, m, "b", "f2")
	upload(t, m, "c", "f1,f2,f3") // cumulative: overlaps both
	for _, n := range []string{"a", "b", "c"} {
		act(t, m, n, ActionCheck)
	}
	act(t, m, "a", ActionApply)
	act(t, m, "b", ActionApply)
	e.takeCalls()

	// Apply fails (the world did not stop): nothing changes.
	e.setFail("apply", fmt.Errorf("fake: rendezvous: %w", EBUSY))
	st := act(t, m, "c", ActionReplace)
	if st.State != StateChecked || st.RC != EBUSY || !strings.Contains(st.Error, "REPLACE") {
		t.Errorf("c after failed REPLACE: %+v", st)
	}
	for _, n := range []string{"a", "b"} {
		if st := get(t, m, n); st != (Status{Name: n, State: StateApplied}) {
			t.Errorf("%s after failed REPLACE: %+v", n, st)
		}
	}
	if ids := e.liveIDs(); !slices.Equal(ids, []int{1, 2}) {
		t.Errorf("engine applied %v after failed REPLACE", ids)
	}
	want := []string{"check 3 []", "apply 3 revert [2 1]"}
	if c := e.takeCalls(); !slices.Equal(c, want) {
		t.Errorf("engine calls %q, want %q", c, want)
	}

	// It succeeds: one Apply reverts both and applies c.
	e.setFail("apply", nil)
	if st := act(t, m, "c", ActionReplace); st != (Status{Name: "c", State: StateApplied}) {
		t.Errorf("c after REPLACE: %+v", st)
	}
	if c := e.takeCalls(); !slices.Equal(c, want) {
		t.Errorf("engine calls %q, want %q", c, want)
	}
	for _, n := range []string{"a", "b"} {
		if st := get(t, m, n); st != (Status{Name: n, State: StateChecked}) {
			t.Errorf("%s after REPLACE: %+v", n, st)
		}
	}
	if ids := e.liveIDs(); !slices.Equal(ids, []int{3}) {
		t.Errorf("engine applied %v, want [3]", ids)
	}

	// The stack is now just c: a REPLACE by a reverts c only.
	act(t, m, "a", ActionReplace)
	if c := e.takeCalls(); !slices.Equal(c, []string{"check 1 []", "apply 1 revert [3]"}) {
		t.Errorf("engine calls %q", c)
	}
	// b and c can be unloaded now, a cannot.
	act(t, m, "b", ActionUnload)
	act(t, m, "c", ActionUnload)
	isErrno(t, m.Action("a", ActionUnload, 0), EINVAL)

	// REPLACE with nothing else applied is a plain apply.
	act(t, m, "a", ActionRevert)
	e.takeCalls()
	act(t, m, "a", ActionReplace)
	if c := e.takeCalls(); !slices.Equal(c, []string{"check 1 []", "apply 1 revert []"}) {
		t.Errorf("engine calls %q", c)
	}
}

func TestListPagination(t *testing.T) {
	m, _ := newTest(t)
	v0 := mustList(t, m, 0, 0).Version
	if r := mustList(t, m, 0, 10); len(r.Entries) != 0 || r.Remaining != 0 || r.Entries == nil {
		t.Errorf("empty list %+v", r)
	}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		upload(t, m, n, n)
	}
	v1 := mustList(t, m, 0, 0).Version
	if v1 != v0+5 {
		t.Errorf("version %d after 5 uploads from %d", v1, v0)
	}

	pages := []struct {
		start, nr int
		names     string
		remaining int
	}{
		{0, 2, "a b", 3},
		{2, 2, "c d", 1},
		{4, 2, "e", 0},
		{5, 2, "", 0},
		{100, 1, "", 0},
		{1, 0, "", 4}, // nr 0: just the count
		{0, MaxListNr, "a b c d e", 0},
	}
	for _, p := range pages {
		r := mustList(t, m, p.start, p.nr)
		var got []string
		for _, s := range r.Entries {
			got = append(got, s.Name)
			if s.State != StateLoaded {
				t.Errorf("%s in state %v", s.Name, s.State)
			}
		}
		if strings.Join(got, " ") != p.names || r.Remaining != p.remaining || r.Version != v1 {
			t.Errorf("List(%d, %d) = %v remaining %d version %d; want %q remaining %d version %d",
				p.start, p.nr, got, r.Remaining, r.Version, p.names, p.remaining, v1)
		}
	}

	_, err := m.List(0, MaxListNr+1)
	isErrno(t, err, E2BIG)
	_, err = m.List(-1, 1)
	isErrno(t, err, EINVAL)
	_, err = m.List(0, -1)
	isErrno(t, err, EINVAL)

	// Actions do not change the version; unload does; order is kept.
	act(t, m, "b", ActionCheck)
	if r := mustList(t, m, 1, 1); r.Version != v1 || r.Entries[0] != (Status{Name: "b", State: StateChecked}) {
		t.Errorf("after CHECK: %+v", r)
	}
	act(t, m, "b", ActionUnload)
	r := mustList(t, m, 1, 2)
	if r.Version <= v1 || len(r.Entries) != 2 || r.Entries[0].Name != "c" || r.Entries[1].Name != "d" || r.Remaining != 1 {
		t.Errorf("after unloading b: %+v", r)
	}
}

// gated starts an action that blocks inside the engine until the returned
// function is called, and waits until the engine has been entered.
func gated(t *testing.T, m *Manager, e *fakeEngine, name string, a ActionKind) (open func()) {
	t.Helper()
	gate, entered := make(chan struct{}), make(chan string, 4)
	e.mu.Lock()
	e.gate, e.entered = gate, entered
	e.mu.Unlock()
	if err := m.Action(name, a, 0); err != nil {
		t.Fatal(err)
	}
	<-entered
	return func() {
		e.mu.Lock()
		e.gate, e.entered = nil, nil
		e.mu.Unlock()
		close(gate)
	}
}

func TestBusy(t *testing.T) {
	m, e := newTest(t)
	upload(t, m, "a", "f1")
	upload(t, m, "b", "f2")
	act(t, m, "b", ActionCheck)
	if !m.Idle() {
		t.Fatal("not idle")
	}
	select {
	case <-m.Done():
	default:
		t.Fatal("Done not closed while idle")
	}

	open := gated(t, m, e, "a", ActionCheck)
	if m.Idle() {
		t.Error("idle with an action pending")
	}
	done := m.Done()
	if st := get(t, m, "a"); st != (Status{Name: "a", State: StateLoaded, RC: EAGAIN}) {
		t.Errorf("pending a: %+v", st)
	}
	if r := mustList(t, m, 0, 2); r.Entries[0].RC != EAGAIN || r.Entries[1].RC != 0 {
		t.Errorf("pending list %+v", r.Entries)
	}
	v := mustList(t, m, 0, 0).Version

	// Every other action is refused and changes nothing.
	for _, tc := range []struct {
		name string
		a    ActionKind
	}{
		{"b", ActionApply}, {"b", ActionUnload}, {"b", ActionCheck},
		{"a", ActionCheck}, {"a", ActionUnload}, // the pending one cannot be unloaded
	} {
		err := m.Action(tc.name, tc.a, 0)
		isErrno(t, err, EBUSY)
		if !strings.Contains(err.Error(), "pending") {
			t.Errorf("%s %s: message %q", tc.a, tc.name, err)
		}
	}
	isErrno(t, m.Action("nope", ActionCheck, 0), ENOENT)
	if st := get(t, m, "b"); st != (Status{Name: "b", State: StateChecked}) {
		t.Errorf("b changed by refused actions: %+v", st)
	}
	// Uploads are not actions: allowed while one is pending.
	upload(t, m, "c", "f3")
	if r := mustList(t, m, 0, 0); r.Version != v+1 {
		t.Errorf("version %d after upload during pending action, was %d", r.Version, v)
	}
	if e.loaded(1).released.Load() != 0 {
		t.Error("pending payload released")
	}
	select {
	case <-done:
		t.Fatal("Done closed while the engine is blocked")
	default:
	}

	open()
	wait(t, m)
	select {
	case <-done:
	default:
		t.Error("the channel from Done was not closed")
	}
	if st := get(t, m, "a"); st != (Status{Name: "a", State: StateChecked}) {
		t.Errorf("a after CHECK: %+v", st)
	}
	act(t, m, "b", ActionApply) // no longer busy
}

func TestReleaseOnlyOnUnload(t *testing.T) {
	m, e := newTest(t)
	for _, n := range []string{"a", "b", "c"} {
		upload(t, m, n, n)
	}
	act(t, m, "c", ActionCheck)
	act(t, m, "b", ActionUnload)
	act(t, m, "c", ActionUnload)
	for i, want := range []int32{0, 1, 1} {
		if got := e.loaded(i + 1).released.Load(); got != want {
			t.Errorf("payload #%d released %d times, want %d", i+1, got, want)
		}
	}
	isErrno(t, m.Action("b", ActionUnload, 0), ENOENT) // not released twice
	if e.loaded(2).released.Load() != 1 {
		t.Error("second unload released again")
	}
}

func TestApplyAtBoot(t *testing.T) {
	m, e := newTest(t)
	if err := m.ApplyAtBoot("boot-1", []byte("f1"), 0); err != nil {
		t.Fatal(err)
	}
	if st := get(t, m, "boot-1"); st != (Status{Name: "boot-1", State: StateApplied}) {
		t.Errorf("boot-1: %+v", st)
	}
	if !m.Idle() {
		t.Error("pending after ApplyAtBoot")
	}
	if c := e.takeCalls(); !slices.Equal(c, []string{"check 1 []", "check 1 []", "apply 1 revert []"}) {
		t.Errorf("engine calls %q", c)
	}

	// Overlap with boot-1: CHECK passes, APPLY's re-check fails.
	err := m.ApplyAtBoot("boot-2", []byte("f1"), 0)
	isErrno(t, err, EEXIST)
	if st := get(t, m, "boot-2"); st.State != StateChecked || st.RC != EEXIST || st.Error != err.Error() {
		t.Errorf("boot-2: %+v, error %q", st, err)
	}

	e.setFail("check", fmt.Errorf("fake: %w", EPERM))
	isErrno(t, m.ApplyAtBoot("boot-3", []byte("f3"), 0), EPERM)
	if st := get(t, m, "boot-3"); st.State != StateLoaded || st.RC != EPERM {
		t.Errorf("boot-3: %+v", st)
	}
	e.setFail("check", nil)

	isErrno(t, m.ApplyAtBoot("boot-1", []byte("f9"), 0), EEXIST)
	isErrno(t, m.ApplyAtBoot("boot-4", []byte("!"), 0), ENOEXEC)

	open := gated(t, m, e, "boot-3", ActionCheck)
	isErrno(t, m.ApplyAtBoot("boot-5", []byte("f5"), 0), EBUSY)
	open()
	wait(t, m)
	if st := get(t, m, "boot-5"); st != (Status{Name: "boot-5", State: StateLoaded}) {
		t.Errorf("boot-5 after EBUSY: %+v", st)
	}
}

func TestUploadErrorType(t *testing.T) {
	m, _ := newTest(t)
	err := m.Upload("", nil)
	var e *Error
	if !errors.As(err, &e) || e.Errno != EINVAL || e.Err != nil {
		t.Errorf("%#v", err)
	}
}
