// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultTimeout is the time an action may take to stop the world when the
// caller passes a timeout of 0. It is Xen's default livepatch quiesce
// timeout (30 ms, LIVEPATCH_DEFAULT_TIMEOUT / MILLISECS(30)).
const DefaultTimeout = 30 * time.Millisecond

// MaxListNr is the largest page List returns; a larger request is refused
// with E2BIG. It bounds one reply (64 names of up to MaxNameLen bytes,
// about 8 KiB before error messages) and the time List holds the lock; a
// client pages through any number of payloads.
const MaxListNr = 64

// Manager keeps the uploaded payloads of one running image and runs the
// actions on them through an Engine. Its methods may be called from any
// number of goroutines. The state machine is drawn in docs/hotpatch.md.
//
// Locking (docs/hotpatch.md, "Locking"): mu is the only lock. Every method
// whose name ends in Locked must be called with m.mu held. The Engine is
// always called without m.mu held.
type Manager struct {
	engine Engine // immutable

	mu      sync.Mutex
	byName  map[string]*payload // every payload, by name
	order   []*payload          // every payload, in upload order (List pages through it)
	applied []*payload          // the APPLIED payloads in apply order: a stack, newest last
	version uint64              // bumped by every upload and unload; starts at 1
	pending *job                // the one action in flight, or nil
}

// payload is one uploaded payload. name and loaded never change after
// insertion and may be read without m.mu; state, rc and err are guarded by
// m.mu.
type payload struct {
	name   string
	loaded Loaded

	state State
	rc    Errno  // 0, EAGAIN while pending, or the errno of the last failed action
	err   *Error // the failure rc reports; nil when rc is 0 or EAGAIN
}

// job is the one pending action. Everything the engine needs is captured
// when the job starts, under m.mu; nothing can change it until the job
// finishes, because every other action is refused while it is pending.
type job struct {
	p       *payload
	kind    ActionKind
	timeout time.Duration
	applied []Loaded // APPLY: the payloads applied now, for Check
	revert  []Loaded // REPLACE: the payloads applied now, newest first
	done    chan struct{}
	err     *Error // the result; written under m.mu before done is closed
}

// closedChan is what Done returns when no action is pending.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// NewManager returns a Manager with no payloads that drives e. A nil e is
// a programming error at start-up and panics.
func NewManager(e Engine) *Manager {
	if e == nil {
		panic("hotpatch: NewManager with a nil Engine")
	}
	return &Manager{engine: e, byName: make(map[string]*payload), version: 1}
}

// Upload parses raw with the Engine and stores it as a LOADED payload
// called name. The name must pass CheckName and be unused (EEXIST
// otherwise). Load runs without the lock, since parsing and checking a
// signature can be slow; the name is checked again when the payload is
// inserted, and if another upload took it meanwhile this one is released
// and refused with EEXIST. An error from Load is returned wrapped in an
// *Error (rc EINVAL unless it carries an Errno) and nothing is stored.
// raw is not retained.
func (m *Manager) Upload(name string, raw []byte) error {
	if err := CheckName(name); err != nil {
		return err
	}
	m.mu.Lock()
	_, taken := m.byName[name]
	m.mu.Unlock()
	if taken {
		return errorf(EEXIST, "upload %q: a payload with that name exists", name)
	}

	l, err := m.engine.Load(raw)
	if err != nil {
		return &Error{Errno: errnoOf(err, EINVAL), Msg: fmt.Sprintf("upload %q", name), Err: err}
	}
	if l == nil {
		return errorf(EINVAL, "upload %q: engine returned no payload", name)
	}

	m.mu.Lock()
	err = m.insertLocked(name, l)
	m.mu.Unlock()
	if err != nil {
		l.Release() // never shared: the name was taken while Load ran
	}
	return err
}

// Get returns the status of the payload called name, or an *Error wrapping
// ENOENT (or the CheckName error for an invalid name).
func (m *Manager) Get(name string) (Status, error) {
	if err := CheckName(name); err != nil {
		return Status{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.findLocked(name)
	if err != nil {
		return Status{}, err
	}
	return p.statusLocked(), nil
}

// List returns at most nr payloads in upload order, starting at index
// start, with the list version and the number of payloads after the page.
// nr may be 0 to read just Version and Remaining. nr above MaxListNr is
// refused with E2BIG, a negative start or nr with EINVAL. A start at or
// beyond the end gives an empty page with Remaining 0.
//
// Version changes on every upload and unload (see ListResult): a client
// that sees it change between pages must start again.
func (m *Manager) List(start, nr int) (ListResult, error) {
	switch {
	case start < 0 || nr < 0:
		return ListResult{}, errorf(EINVAL, "list: negative start %d or count %d", start, nr)
	case nr > MaxListNr:
		return ListResult{}, errorf(E2BIG, "list: %d entries asked, at most %d per page", nr, MaxListNr)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	res := ListResult{Version: m.version, Entries: []Status{}}
	if start >= len(m.order) {
		return res, nil
	}
	end := min(start+nr, len(m.order)) // start < len and nr <= MaxListNr: no overflow
	for _, p := range m.order[start:end] {
		res.Entries = append(res.Entries, p.statusLocked())
	}
	res.Remaining = len(m.order) - end
	return res, nil
}

// Action starts action a on the payload called name.
//
// It checks, under the lock, that the payload exists (ENOENT), that no
// action is pending anywhere in the Manager (EBUSY), and that a is allowed
// in the payload's state (EINVAL, naming both); a refused action changes
// nothing, not even rc. UNLOAD then completes at once: the payload is
// removed and released before Action returns. Every other action marks the
// payload pending (rc EAGAIN), starts the engine work on a new goroutine
// and returns nil; the outcome is the payload's state and rc as Get and
// List report them once rc is no longer EAGAIN (or once Done is closed).
//
// timeout bounds each stop-the-world the action needs; 0 means
// DefaultTimeout and a negative value is refused with EINVAL.
//
// Which engine calls each action makes, and what a failure leaves behind,
// is in docs/hotpatch.md ("Actions").
func (m *Manager) Action(name string, a ActionKind, timeout time.Duration) error {
	_, err := m.start(name, a, timeout)
	return err
}

// ActionWait is Action followed by waiting for its result: it returns the
// refusal, or the failure recorded in the payload's rc (nil on success).
func (m *Manager) ActionWait(name string, a ActionKind, timeout time.Duration) error {
	j, err := m.start(name, a, timeout)
	if err != nil || j == nil {
		return err
	}
	<-j.done
	if j.err != nil {
		return j.err
	}
	return nil
}

// Done returns a channel that is closed when the action pending now has
// finished and its result is recorded; if no action is pending the channel
// is already closed. It lets a caller wait instead of polling.
func (m *Manager) Done() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		return closedChan
	}
	return m.pending.done
}

// Idle reports whether no action is pending.
func (m *Manager) Idle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending == nil
}

// ApplyAtBoot uploads raw as name, checks it and applies it, waiting for
// each step, and returns the first error: the Upload error, an action
// refused (EBUSY if another action is pending), or the failure recorded in
// the payload's rc. The payload is left in the state it reached, as Get
// reports it. It is meant for payloads built into the image and applied
// before the operator shell starts, but is safe at any time.
func (m *Manager) ApplyAtBoot(name string, raw []byte, timeout time.Duration) error {
	if err := m.Upload(name, raw); err != nil {
		return err
	}
	for _, a := range [...]ActionKind{ActionCheck, ActionApply} {
		j, err := m.start(name, a, timeout)
		if err != nil {
			return err
		}
		<-j.done
		if j.err != nil {
			return j.err
		}
	}
	return nil
}

// start is Action: it returns the started job, or nil for UNLOAD, which it
// completes itself.
func (m *Manager) start(name string, a ActionKind, timeout time.Duration) (*job, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if a.from() == 0 {
		return nil, errorf(EINVAL, "payload %q: unknown action %d", name, uint8(a))
	}
	switch {
	case timeout < 0:
		return nil, errorf(EINVAL, "payload %q: %s with negative timeout %v", name, a, timeout)
	case timeout == 0:
		timeout = DefaultTimeout
	}

	m.mu.Lock()
	j, unloaded, err := m.startLocked(name, a, timeout)
	m.mu.Unlock()

	if unloaded != nil {
		// Unreachable from the Manager now, and not used by a pending
		// job (none was pending), so this is the last reference.
		unloaded.Release()
	}
	if j != nil {
		go m.run(j)
	}
	return j, err
}

// startLocked validates a on the payload called name and either removes the
// payload (UNLOAD: it returns the Loaded to release once the lock is
// dropped) or makes a pending job (it returns the job to run once the lock
// is dropped). On error nothing has changed. m.mu must be held.
func (m *Manager) startLocked(name string, a ActionKind, timeout time.Duration) (*job, Loaded, error) {
	p, err := m.findLocked(name)
	if err != nil {
		return nil, nil, err
	}
	if q := m.pending; q != nil {
		if q.p == p {
			return nil, nil, errorf(EBUSY, "payload %q: %s refused: its %s is pending", name, a, q.kind)
		}
		return nil, nil, errorf(EBUSY, "payload %q: %s refused: %s of %q is pending", name, a, q.kind, q.p.name)
	}
	if !a.allowedFrom(p.state) {
		return nil, nil, errorf(EINVAL, "payload %q: %s is not allowed in state %s (only from %s)",
			name, a, p.state, a.fromNames())
	}

	if err := m.stackCheckLocked(p, a); err != nil {
		return nil, nil, err
	}

	if a == ActionUnload {
		m.removeLocked(p)
		return nil, p.loaded, nil
	}

	j := &job{p: p, kind: a, timeout: timeout, done: make(chan struct{})}
	switch a {
	case ActionApply:
		j.applied = m.appliedLoadedLocked()
	case ActionReplace:
		j.revert = m.appliedLoadedLocked()
		slices.Reverse(j.revert) // newest first
	}
	p.rc, p.err = EAGAIN, nil
	m.pending = j
	return j, nil, nil
}

// stackCheckLocked refuses a that would break the stack of payloads that
// depend on one another (docs/hotpatch.md, "Stacking"), as Xen's
// livepatch checks a payload's depends build-id against the newest
// applied payload. m.mu must be held.
func (m *Manager) stackCheckLocked(p *payload, a ActionKind) error {
	id, dep := stackOf(p.loaded)
	switch a {
	case ActionApply:
		if dep == nil {
			return nil
		}
		if n := len(m.applied); n > 0 {
			top := m.applied[n-1]
			if tid, _ := stackOf(top.loaded); tid != nil && bytes.Equal(tid, dep) {
				return nil
			}
			return errorf(EINVAL, "payload %q: APPLY refused: it stacks on payload %x, but the newest applied payload is %q", p.name, dep, top.name)
		}
		return errorf(EINVAL, "payload %q: APPLY refused: it stacks on payload %x, and no payload is applied", p.name, dep)
	case ActionReplace:
		if dep != nil {
			return errorf(EINVAL, "payload %q: REPLACE refused: it stacks on payload %x, which REPLACE would revert", p.name, dep)
		}
	case ActionRevert:
		if id == nil {
			return nil
		}
		for _, q := range m.applied {
			if _, qd := stackOf(q.loaded); q != p && bytes.Equal(qd, id) {
				return errorf(EBUSY, "payload %q: REVERT refused: applied payload %q stacks on it (revert %q first)", p.name, q.name, q.name)
			}
		}
	}
	return nil
}

// run does the engine work of j without the lock, then records the result.
// Working unlocked is safe: while j is pending every action (UNLOAD
// included) is refused, so neither j.p nor any payload whose Loaded j
// captured can change state, be removed or be released (docs/hotpatch.md,
// "Locking").
func (m *Manager) run(j *job) {
	err := m.work(j)
	m.mu.Lock()
	m.finishLocked(j, err)
	m.mu.Unlock()
}

// work calls the engine for j and returns its failure, or nil. It must be
// called without m.mu held.
func (m *Manager) work(j *job) *Error {
	l := j.p.loaded // immutable: readable without the lock
	fail := func(step string, err error) *Error {
		if err == nil {
			return nil
		}
		return &Error{
			Errno: errnoOf(err, EINVAL),
			Msg:   fmt.Sprintf("payload %q: %s failed in %s", j.p.name, j.kind, step),
			Err:   err,
		}
	}
	switch j.kind {
	case ActionCheck:
		// Against the image only: whether p will join the applied
		// payloads (APPLY) or replace them (REPLACE) is not known yet.
		return fail("check", m.engine.Check(l, nil))
	case ActionApply:
		// Checked again: the image or the applied set may have changed
		// since CHECK, and only now is it known what p joins.
		if err := m.engine.Check(l, j.applied); err != nil {
			return fail("check", err)
		}
		return fail("apply", m.engine.Apply(l, nil, j.timeout))
	case ActionReplace:
		// Everything applied now is reverted in the same step, so p
		// is checked against the image alone.
		if err := m.engine.Check(l, nil); err != nil {
			return fail("check", err)
		}
		return fail("apply", m.engine.Apply(l, j.revert, j.timeout))
	case ActionRevert:
		return fail("revert", m.engine.Revert(l, j.timeout))
	}
	// Unreachable: startLocked makes jobs for the four actions above only.
	return errorf(EINVAL, "payload %q: no engine work for %s", j.p.name, j.kind)
}

// finishLocked records the result of j, clears the pending action and
// wakes the waiters on j.done. m.mu must be held.
func (m *Manager) finishLocked(j *job, err *Error) {
	p := j.p
	j.err = err
	m.pending = nil
	defer close(j.done)

	if err != nil {
		// A failed action changes no state: the engine undid its work.
		p.rc, p.err = err.Errno, err
		return
	}
	p.rc, p.err = 0, nil
	switch j.kind {
	case ActionCheck:
		p.state = StateChecked
	case ActionApply:
		p.state = StateApplied
		m.applied = append(m.applied, p)
	case ActionRevert:
		p.state = StateChecked
		m.applied = slices.DeleteFunc(m.applied, func(q *payload) bool { return q == p })
	case ActionReplace:
		// Each of the others was reverted successfully as part of
		// this action, so its rc is cleared too.
		for _, q := range m.applied {
			q.state, q.rc, q.err = StateChecked, 0, nil
		}
		p.state = StateApplied
		m.applied = []*payload{p}
	}
}

// findLocked returns the payload called name or an *Error wrapping ENOENT.
// m.mu must be held.
func (m *Manager) findLocked(name string) (*payload, error) {
	if p, ok := m.byName[name]; ok {
		return p, nil
	}
	return nil, errorf(ENOENT, "no payload %q", name)
}

// insertLocked stores l as a new LOADED payload called name and bumps the
// version, or returns an *Error wrapping EEXIST if the name is taken.
// m.mu must be held.
func (m *Manager) insertLocked(name string, l Loaded) error {
	if _, taken := m.byName[name]; taken {
		return errorf(EEXIST, "upload %q: a payload with that name exists", name)
	}
	p := &payload{name: name, loaded: l, state: StateLoaded}
	m.byName[name] = p
	m.order = append(m.order, p)
	m.version++
	return nil
}

// removeLocked forgets p, which must not be APPLIED or pending, and bumps
// the version. The caller releases p.loaded after dropping the lock.
// m.mu must be held.
func (m *Manager) removeLocked(p *payload) {
	delete(m.byName, p.name)
	m.order = slices.DeleteFunc(m.order, func(q *payload) bool { return q == p })
	m.version++
}

// appliedLoadedLocked returns the Loaded of every APPLIED payload in apply
// order, in a new slice the caller may keep. m.mu must be held.
func (m *Manager) appliedLoadedLocked() []Loaded {
	out := make([]Loaded, len(m.applied))
	for i, q := range m.applied {
		out[i] = q.loaded
	}
	return out
}

// statusLocked returns p's Status. m.mu must be held.
func (p *payload) statusLocked() Status {
	s := Status{Name: p.name, State: p.state, RC: p.rc}
	if p.err != nil {
		s.Error = p.err.Error()
	}
	return s
}
