// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHammer runs uploads, unloads, every action, gets and lists from
// several goroutines at once against a fake engine that fails some
// stop-the-world attempts, then checks the invariants of docs/hotpatch.md:
// nothing listed is released and everything gone is released exactly
// once, the applied payloads touch distinct functions and are the ones
// the engine has applied, in the same order, and each observer sees the
// list version only grow. The fake engine itself reports overlapping
// engine calls, use after release and overlapping applied payloads as
// they happen.
func TestHammer(t *testing.T) {
	const (
		workers = 6
		iters   = 2000
		nNames  = 8
		nFuncs  = 6
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	m, e := newTest(t)
	e.failN = 7 // every 7th Apply or Revert fails with EBUSY or ETIMEDOUT

	var ok [ActionUnload + 1]atomic.Int32 // successful starts per action
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			var lastVersion uint64
			allowed := func(op string, err error, errnos ...Errno) {
				if err == nil {
					return
				}
				var e *Error
				if !errors.As(err, &e) || !slices.Contains(errnos, e.Errno) {
					t.Errorf("worker %d: %s: unexpected error %v", w, op, err)
				}
			}
			for range iters {
				name := fmt.Sprintf("p%d", r.IntN(nNames))
				switch op := r.IntN(10); op {
				case 0: // upload 1 or 2 distinct functions
					f1 := r.IntN(nFuncs)
					raw := fmt.Sprintf("f%d", f1)
					if r.IntN(2) == 0 {
						raw += fmt.Sprintf(",f%d", (f1+1+r.IntN(nFuncs-1))%nFuncs)
					}
					allowed("upload", m.Upload(name, []byte(raw)), EEXIST)
				case 1, 2, 3, 4, 5: // an action
					a := ActionKind(1 + r.IntN(int(ActionUnload)))
					timeout := time.Duration(r.IntN(2)) * time.Millisecond
					err := m.Action(name, a, timeout)
					allowed(a.String(), err, ENOENT, EBUSY, EINVAL)
					if err == nil {
						ok[a].Add(1)
					}
				case 6:
					s, err := m.Get(name)
					allowed("get", err, ENOENT)
					if err == nil && (s.Name != name || s.State < StateLoaded || s.State > StateApplied) {
						t.Errorf("worker %d: Get(%q) = %+v", w, name, s)
					}
				case 7, 8: // page through the whole list
					for start := 0; ; {
						res, err := m.List(start, 1+r.IntN(3))
						if err != nil {
							t.Errorf("worker %d: list: %v", w, err)
							break
						}
						if res.Version < lastVersion {
							t.Errorf("worker %d: version went back from %d to %d", w, lastVersion, res.Version)
						}
						if res.Version != lastVersion {
							lastVersion = res.Version
							start = 0 // stale view: start again
							continue
						}
						start += len(res.Entries)
						if res.Remaining == 0 {
							break
						}
					}
				case 9:
					<-m.Done()
				}
			}
		}()
	}
	wg.Wait()
	wait(t, m)

	for a := ActionCheck; a <= ActionUnload; a++ {
		t.Logf("%v started %d times", a, ok[a].Load())
		if ok[a].Load() == 0 {
			t.Errorf("no %v was ever started: the hammer tested nothing", a)
		}
	}

	// Payloads present and their Loaded.
	m.mu.Lock()
	present := map[*fakeLoaded]*payload{}
	for _, p := range m.order {
		present[p.loaded.(*fakeLoaded)] = p
		if p.rc == EAGAIN {
			t.Errorf("%q still pending when idle", p.name)
		}
		if onStack := slices.Contains(m.applied, p); (p.state == StateApplied) != onStack {
			t.Errorf("%q in state %v, on the applied stack: %v", p.name, p.state, onStack)
		}
	}
	var stack []int
	for _, p := range m.applied {
		stack = append(stack, p.loaded.(*fakeLoaded).id)
	}
	m.mu.Unlock()

	e.mu.Lock()
	loads := slices.Clone(e.loads)
	live := slices.Clone(e.live)
	e.mu.Unlock()
	for _, l := range loads {
		_, listed := present[l]
		switch n := l.released.Load(); {
		case listed && n != 0:
			t.Errorf("payload #%d is listed and was released %d times", l.id, n)
		case !listed && n != 1:
			t.Errorf("payload #%d is gone and was released %d times", l.id, n)
		}
	}
	if len(present) != len(mustList(t, m, 0, MaxListNr).Entries) {
		t.Error("List and the payload table disagree")
	}
	if f := overlap(live); f != "" {
		t.Errorf("%s patched by two applied payloads", f)
	}
	var liveIDs []int
	for _, l := range live {
		liveIDs = append(liveIDs, l.id)
	}
	if !slices.Equal(stack, liveIDs) {
		t.Errorf("manager's applied stack %v, engine's %v", stack, liveIDs)
	}
	t.Logf("%d uploads, %d present, %d applied", len(loads), len(present), len(live))
}
