// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeEngine models a running image: the payloads it has applied, in order
// (live). It reports through t every misuse the Manager could commit:
// overlapping engine calls, applying payloads whose targets overlap,
// reverting a payload that is not applied, touching or releasing a payload
// after Release, releasing an applied payload.
//
// A raw payload is a comma-separated list of target function names; "!"
// makes Load fail with ENOEXEC and "!!" with an error carrying no Errno.
type fakeEngine struct {
	t testing.TB

	busy atomic.Int32 // Check/Apply/Revert calls in progress (must stay <= 1)

	mu       sync.Mutex
	live     []*fakeLoaded    // applied, oldest first
	loads    []*fakeLoaded    // every Loaded Load returned
	calls    []string         // "check a [b c]", "apply a revert [c b]", "revert a"
	timeouts []time.Duration  // timeout of every Apply and Revert
	fail     map[string]error // op ("check", "apply", "revert") → error to return
	failN    int              // if > 0, every failN-th Apply or Revert fails with EBUSY
	nOps     int
	gate     chan struct{} // if non-nil, Check/Apply/Revert wait for it to be closed
	entered  chan string   // if non-nil, Check/Apply/Revert send their op on it first
	onLoad   func()        // if non-nil, called by Load (without any lock)
}

type fakeLoaded struct {
	e        *fakeEngine
	id       int
	targets  []string
	released atomic.Int32
}

func newFake(t testing.TB) *fakeEngine {
	return &fakeEngine{t: t, fail: map[string]error{}}
}

func newTest(t testing.TB) (*Manager, *fakeEngine) {
	e := newFake(t)
	return NewManager(e), e
}

// touch reports a use of l after Release.
func (l *fakeLoaded) touch(what string) {
	if l.released.Load() != 0 {
		l.e.t.Errorf("%s of payload #%d after Release", what, l.id)
	}
}

func (l *fakeLoaded) Targets() []string {
	l.touch("Targets")
	return l.targets
}

func (l *fakeLoaded) Release() {
	if n := l.released.Add(1); n != 1 {
		l.e.t.Errorf("payload #%d released %d times", l.id, n)
	}
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	if slices.Contains(l.e.live, l) {
		l.e.t.Errorf("payload #%d released while applied", l.id)
	}
}

func (l *fakeLoaded) String() string { return fmt.Sprintf("#%d%v", l.id, l.targets) }

func (e *fakeEngine) Load(raw []byte) (Loaded, error) {
	if e.onLoad != nil {
		e.onLoad()
	}
	switch string(raw) {
	case "!":
		return nil, fmt.Errorf("fake: bad magic: %w", ENOEXEC)
	case "!!":
		return nil, errors.New("fake: truncated")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	l := &fakeLoaded{e: e, id: len(e.loads) + 1}
	if len(raw) > 0 {
		l.targets = strings.Split(string(raw), ",")
	}
	e.loads = append(e.loads, l)
	return l, nil
}

// enter marks the start of an engine call, waiting at the gate if one is
// set, and returns the function that marks its end.
func (e *fakeEngine) enter(op string) func() {
	if n := e.busy.Add(1); n != 1 {
		e.t.Errorf("%s: %d engine calls at once", op, n)
	}
	e.mu.Lock()
	gate, entered := e.gate, e.entered
	e.mu.Unlock()
	if entered != nil {
		entered <- op
	}
	if gate != nil {
		<-gate
	}
	return func() { e.busy.Add(-1) }
}

func asFake(t testing.TB, l Loaded) *fakeLoaded {
	f, ok := l.(*fakeLoaded)
	if !ok {
		t.Fatalf("engine got a %T, not its own Loaded", l)
	}
	return f
}

func names(ls []Loaded) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = fmt.Sprint(l.(*fakeLoaded).id)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// overlap returns a target two of ls share, or "".
func overlap(ls []*fakeLoaded) string {
	seen := map[string]bool{}
	for _, l := range ls {
		for _, f := range l.Targets() {
			if seen[f] {
				return f
			}
			seen[f] = true
		}
	}
	return ""
}

func (e *fakeEngine) Check(p Loaded, applied []Loaded) error {
	defer e.enter("check")()
	f := asFake(e.t, p)
	all := []*fakeLoaded{f}
	for _, a := range applied {
		all = append(all, asFake(e.t, a))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, fmt.Sprintf("check %d %s", f.id, names(applied)))
	if err := e.fail["check"]; err != nil {
		return err
	}
	if t := overlap(all); t != "" {
		return fmt.Errorf("fake: %s already patched: %w", t, EEXIST)
	}
	return nil
}

// failNLocked decides whether this Apply or Revert fails at random.
func (e *fakeEngine) failNLocked() bool {
	e.nOps++
	return e.failN > 0 && e.nOps%e.failN == 0
}

func (e *fakeEngine) Apply(p Loaded, revertFirst []Loaded, timeout time.Duration) error {
	defer e.enter("apply")()
	f := asFake(e.t, p)
	f.touch("Apply")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, fmt.Sprintf("apply %d revert %s", f.id, names(revertFirst)))
	e.timeouts = append(e.timeouts, timeout)
	if slices.Contains(e.live, f) {
		e.t.Errorf("apply of #%d, already applied", f.id)
	}
	// The Manager reverts everything applied, newest first.
	if len(revertFirst) > 0 {
		want := slices.Clone(e.live)
		slices.Reverse(want)
		got := make([]*fakeLoaded, len(revertFirst))
		for i, r := range revertFirst {
			got[i] = asFake(e.t, r)
			got[i].touch("revert in Apply")
		}
		if !slices.Equal(got, want) {
			e.t.Errorf("apply #%d: revertFirst %v, applied newest first is %v", f.id, got, want)
		}
	}
	if err := e.fail["apply"]; err != nil {
		return err
	}
	if e.failNLocked() {
		return fmt.Errorf("fake: CPUs did not rendezvous: %w", EBUSY)
	}
	next := slices.DeleteFunc(slices.Clone(e.live), func(l *fakeLoaded) bool {
		return slices.ContainsFunc(revertFirst, func(r Loaded) bool { return r == Loaded(l) })
	})
	next = append(next, f)
	if t := overlap(next); t != "" {
		e.t.Errorf("apply #%d: %s would be patched twice; applied %v", f.id, t, next)
	}
	e.live = next
	return nil
}

func (e *fakeEngine) Revert(p Loaded, timeout time.Duration) error {
	defer e.enter("revert")()
	f := asFake(e.t, p)
	f.touch("Revert")
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, fmt.Sprintf("revert %d", f.id))
	e.timeouts = append(e.timeouts, timeout)
	if !slices.Contains(e.live, f) {
		e.t.Errorf("revert of #%d, which is not applied", f.id)
	}
	if err := e.fail["revert"]; err != nil {
		return err
	}
	if e.failNLocked() {
		return fmt.Errorf("fake: CPUs did not rendezvous: %w", ETIMEDOUT)
	}
	e.live = slices.DeleteFunc(e.live, func(l *fakeLoaded) bool { return l == f })
	return nil
}

// setFail makes op fail with err from now on (nil: succeed).
func (e *fakeEngine) setFail(op string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail[op] = err
}

// takeCalls returns the engine calls recorded since the last takeCalls.
func (e *fakeEngine) takeCalls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.calls
	e.calls = nil
	return c
}

// liveIDs returns the ids of the applied payloads, oldest first.
func (e *fakeEngine) liveIDs() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []int
	for _, l := range e.live {
		ids = append(ids, l.id)
	}
	return ids
}

// loaded returns the n-th Loaded (1-based) the engine made.
func (e *fakeEngine) loaded(n int) *fakeLoaded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loads[n-1]
}

// wait waits for the pending action, if any, to finish.
func wait(t testing.TB, m *Manager) {
	t.Helper()
	select {
	case <-m.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("pending action never finished")
	}
}

// act runs a on name to completion, failing the test if it is refused.
func act(t testing.TB, m *Manager, name string, a ActionKind) Status {
	t.Helper()
	if err := m.Action(name, a, 0); err != nil {
		t.Fatalf("%s %s: %v", a, name, err)
	}
	wait(t, m)
	if a == ActionUnload {
		return Status{}
	}
	return get(t, m, name)
}

func get(t testing.TB, m *Manager, name string) Status {
	t.Helper()
	s, err := m.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return s
}

func upload(t testing.TB, m *Manager, name, targets string) {
	t.Helper()
	if err := m.Upload(name, []byte(targets)); err != nil {
		t.Fatalf("Upload(%q): %v", name, err)
	}
}

// isErrno fails the test unless err is an *Error carrying want.
func isErrno(t testing.TB, err error, want Errno) {
	t.Helper()
	var e *Error
	if !errors.Is(err, want) || !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *Error with %s", err, err, want)
	}
}
