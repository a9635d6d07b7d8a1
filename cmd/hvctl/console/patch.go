// cmd/hvctl: host-side control of a running tamavisor over its serial console.
// SPDX-License-Identifier: BSD-3-Clause

package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tamavisor/tamavisor/hotpatch"
)

// RC is a payload's rc as the patch command reports it: 0 (OK), EAGAIN
// while an action is pending, or the errno of the last failed action
// (hotpatch.Errno; the numbers are Xen's).
type RC int

// String returns the errno's C name ("ENOSYS"), or "OK" for 0.
func (r RC) String() string { return hotpatch.Errno(r).String() }

// Pending reports whether the rc says an action is still running.
func (r RC) Pending() bool { return hotpatch.Errno(r) == hotpatch.EAGAIN }

// UnmarshalJSON accepts the number the shell prints ("rc":38) and also an
// errno name ("rc":"ENOSYS"), should the reply ever carry names.
func (r *RC) UnmarshalJSON(b []byte) error {
	if n, err := strconv.Atoi(string(b)); err == nil {
		*r = RC(n)
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("console: rc %s: neither a number nor an errno name", b)
	}
	if name == "OK" {
		*r = 0
		return nil
	}
	for n := 1; n < 4096; n++ {
		if hotpatch.Errno(n).String() == name {
			*r = RC(n)
			return nil
		}
	}
	return fmt.Errorf("console: rc %q: unknown errno name", name)
}

// Status is one payload as `patch get --json` reports it
// (hotpatch.Status). After `patch unload` State is "UNLOADED".
type Status struct {
	Name  string `json:"name"`
	State string `json:"state"` // LOADED, CHECKED, APPLIED (or UNLOADED)
	RC    RC     `json:"rc"`
	Error string `json:"error"` // the message of the failure RC reports

	// Raw is the reply line this Status was decoded from.
	Raw json.RawMessage `json:"-"`
}

// String formats s as the shell does without --json:
// "fix-1: CHECKED rc=ENOSYS (hotpatch: ...)".
func (s Status) String() string {
	if s.State == "UNLOADED" {
		return s.Name + ": unloaded"
	}
	out := fmt.Sprintf("%s: %s rc=%s", s.Name, s.State, s.RC)
	if s.Error != "" {
		out += " (" + s.Error + ")"
	}
	return out
}

// PatchList is every payload, from `patch list --json` pages.
type PatchList struct {
	// Version is the list version of the pages read (it changes on every
	// upload and unload).
	Version uint64   `json:"version"`
	Patches []Status `json:"patches"`
}

// ActionError reports an action that ran and failed: the payload's rc
// after it is not OK.
type ActionError struct {
	Action string // "apply"
	Status Status // the payload after the action
}

func (e *ActionError) Error() string {
	msg := fmt.Sprintf("patch %s %s: %s rc=%s", e.Action, e.Status.Name, e.Status.State, e.Status.RC)
	if e.Status.Error != "" {
		msg += ": " + e.Status.Error
	}
	return msg
}

// Actions the patch command runs on a payload (hotpatch.ActionKind).
var Actions = []string{"check", "apply", "revert", "replace", "unload"}

// ActionOptions are the optional arguments of Action.
type ActionOptions struct {
	// TimeoutMS bounds each stop-the-world of the action (TIMEOUT_MS);
	// 0 means the hypervisor's default (hotpatch.DefaultTimeout).
	TimeoutMS int
	// Wait makes Action wait for the action to finish (the shell's
	// --wait, then polling `patch get`) and fail with an *ActionError
	// unless the payload's rc is OK.
	Wait bool
}

// Words the shell takes as flags wherever they appear: a name equal to one
// of them cannot be passed.
var shellFlags = []string{"--json", "-h", "--help", "--wait"}

// Quote quotes w, if it needs it, so that hv/shell.Split reads it back
// as one word: in single quotes, or in double quotes with \" and \\ if
// it holds a single quote.
func Quote(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t'\"") {
		return w
	}
	if !strings.Contains(w, "'") {
		return "'" + w + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(w) + `"`
}

// nameWord checks that a payload name can be typed as one shell word and
// quotes it.
func nameWord(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty payload name", ErrCommand)
	}
	for _, f := range shellFlags {
		if name == f {
			return "", fmt.Errorf("%w: payload name %q is a shell flag", ErrCommand, name)
		}
	}
	return Quote(name), nil
}

// Get returns the status of the payload called name.
func (c *Conn) Get(name string) (Status, error) {
	w, err := nameWord(name)
	if err != nil {
		return Status{}, err
	}
	var st Status
	raw, err := c.RunJSON("patch get "+w, &st, "name", "state")
	st.Raw = raw
	return st, err
}

// maxListRestarts bounds how often List starts again because the list
// changed while it paged through it.
const maxListRestarts = 5

// List returns every payload, reading `patch list START NR --json` pages
// of hotpatch.MaxListNr entries, and starting again if the version
// changes between pages.
func (c *Conn) List() (PatchList, error) {
	for range maxListRestarts {
		var all PatchList
		changed := false
		for start := 0; ; {
			var page struct {
				Version   uint64   `json:"version"`
				Remaining int      `json:"remaining"`
				Patches   []Status `json:"patches"`
			}
			if _, err := c.RunJSON(fmt.Sprintf("patch list %d %d", start, hotpatch.MaxListNr), &page, "version", "patches"); err != nil {
				return PatchList{}, err
			}
			if start > 0 && page.Version != all.Version {
				changed = true
				break
			}
			all.Version = page.Version
			all.Patches = append(all.Patches, page.Patches...)
			if page.Remaining <= 0 || len(page.Patches) == 0 {
				break
			}
			start += len(page.Patches)
		}
		if !changed {
			if all.Patches == nil {
				all.Patches = []Status{}
			}
			return all, nil
		}
	}
	return PatchList{}, fmt.Errorf("console: patch list: the list changed %d times while it was read", maxListRestarts)
}

// Action runs `patch VERB NAME [TIMEOUT_MS]` (verb one of Actions) and
// returns the payload's status: with o.Wait, once the action has finished
// (an *ActionError if its rc is not OK); without, as it is when the
// action has started (rc EAGAIN). UNLOAD is synchronous and returns State
// "UNLOADED".
func (c *Conn) Action(verb, name string, o ActionOptions) (Status, error) {
	known := false
	for _, a := range Actions {
		known = known || a == verb
	}
	if !known {
		return Status{}, fmt.Errorf("%w: unknown patch action %q (want one of %s)", ErrCommand, verb, strings.Join(Actions, ", "))
	}
	if o.TimeoutMS < 0 {
		return Status{}, fmt.Errorf("%w: negative timeout %d ms", ErrCommand, o.TimeoutMS)
	}
	w, err := nameWord(name)
	if err != nil {
		return Status{}, err
	}
	cmd := "patch " + verb + " " + w
	if o.TimeoutMS > 0 {
		cmd += " " + strconv.Itoa(o.TimeoutMS)
	}
	var extra time.Duration
	if o.Wait && verb != "unload" {
		cmd += " --wait"
		// The shell waits for the action up to its timeout plus 10 s
		// (hotpatch/commands.go, patchAction).
		t := time.Duration(o.TimeoutMS) * time.Millisecond
		if t == 0 {
			t = hotpatch.DefaultTimeout
		}
		extra = t + 10*time.Second
	}
	var st Status
	raw, err := c.runJSON(cmd, &st, extra, "name", "state")
	st.Raw = raw
	if err != nil || !o.Wait || verb == "unload" {
		return st, err
	}
	if st.RC.Pending() {
		if st, err = c.Wait(name); err != nil {
			return st, err
		}
	}
	if st.RC != 0 {
		return st, &ActionError{Action: verb, Status: st}
	}
	return st, nil
}

// Wait polls `patch get NAME` until the payload's rc is no longer EAGAIN
// and returns its status, or fails with ErrTimeout after the Conn's
// timeout.
func (c *Conn) Wait(name string) (Status, error) {
	deadline := time.Now().Add(c.timeout)
	for {
		st, err := c.Get(name)
		if err != nil || !st.RC.Pending() {
			return st, err
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%w: payload %q still pending after %v", ErrTimeout, name, c.timeout)
		}
		time.Sleep(pollTick)
	}
}

// uploadChunk is how many payload bytes go on one base64 line: 180 bytes
// make 240 characters, hotpatch.UploadLineMax.
const uploadChunk = hotpatch.UploadLineMax / 4 * 3

// uploadBatch is how many base64 lines go in one write.
const uploadBatch = 16

// goAhead is what the shell prints when it is ready for the payload lines.
const goAhead = "patch upload: send "

// Upload uploads a signed payload as name with `patch upload` and returns
// the new payload's status (LOADED). The hypervisor refuses it (a
// *RemoteError) if the name is taken, the signature or format is bad, or
// the transfer was corrupted.
func (c *Conn) Upload(name string, payload []byte) (Status, error) {
	return c.UploadFrom(name, bytes.NewReader(payload), len(payload), sha256.Sum256(payload))
}

// UploadFrom is Upload with the payload read from r: size bytes whose
// SHA-256 the sender states as sum, which the hypervisor checks. If r
// fails or ends before size bytes, UploadFrom aborts the upload (with the
// protocol's empty line), so nothing is stored, and returns an error
// wrapping r's.
func (c *Conn) UploadFrom(name string, r io.Reader, size int, sum [sha256.Size]byte) (Status, error) {
	if size <= 0 {
		return Status{}, fmt.Errorf("%w: upload of %d bytes", ErrCommand, size)
	}
	w, err := nameWord(name)
	if err != nil {
		return Status{}, err
	}
	cmd := fmt.Sprintf("patch upload %s %d %x --json", w, size, sum)
	if err := CheckLine(cmd); err != nil {
		return Status{}, err
	}

	// 1. The command line, then its answer: the go-ahead, or an error.
	c.discard()
	c.progress.Store(time.Now().UnixNano())
	if err := c.write(cmd + eol); err != nil {
		return Status{}, err
	}
	_, last, err := c.collect(func(line string) bool {
		_, isErr := errorObject([]byte(line))
		return isErr || strings.Contains(line, goAhead)
	}, nil, c.timeout)
	if err != nil {
		return Status{}, fmt.Errorf("console: %q: %w", cmd, err)
	}
	if msg, ok := errorObject([]byte(last)); ok {
		return Status{}, &RemoteError{Command: cmd, Msg: msg}
	}

	// 2. The payload lines, written while the echo is read, then the
	// sync word. An error from the shell before the end stops the
	// writer: the lines after it would be read as commands.
	tok := c.nextToken()
	stop := make(chan struct{})
	type result struct{ local, write error }
	done := make(chan result, 1)
	go func() {
		local, werr := c.sendPayload(r, size, stop)
		if werr == nil {
			werr = c.write(tok + eol)
		}
		done <- result{local, werr}
	}()
	stopped := false
	lines, err := c.waitToken(tok, "", func(line string) (bool, error) {
		if _, isErr := errorObject([]byte(line)); isErr && !stopped {
			stopped = true
			close(stop)
		}
		return !isBase64Line(line), nil
	}, 0)
	if err != nil && !stopped {
		close(stop)
	}
	res := <-done
	switch {
	case res.local != nil:
		msg := ""
		if _, rerr := decodeReply(cmd, lines, nil, nil); rerr != nil {
			msg = " (" + rerr.Error() + ")"
		}
		return Status{}, fmt.Errorf("console: upload %s aborted, nothing stored%s: %w", name, msg, res.local)
	case err != nil:
		return Status{}, fmt.Errorf("console: %q: %w", cmd, err)
	case res.write != nil:
		return Status{}, res.write
	}
	var st Status
	raw, err := decodeReply(cmd, trimBlank(lines), &st, []string{"name", "state"})
	st.Raw = raw
	return st, err
}

// errShortPayload reports a payload reader that ended before the size
// announced.
var errShortPayload = errors.New("payload shorter than announced")

// sendPayload writes size bytes from r as base64 lines, in batches,
// until done or stop is closed. If r fails first it sends the empty line
// that aborts the upload and returns r's error as local. werr is a
// failure to write to the console.
func (c *Conn) sendPayload(r io.Reader, size int, stop <-chan struct{}) (local, werr error) {
	chunk := make([]byte, uploadChunk)
	var batch strings.Builder
	for sent := 0; sent < size; {
		batch.Reset()
		for n := 0; n < uploadBatch && sent < size; n++ {
			k, err := io.ReadFull(r, chunk[:min(uploadChunk, size-sent)])
			if err != nil {
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					err = fmt.Errorf("%w: %d of %d bytes", errShortPayload, sent+k, size)
				}
				// Whole lines only went out: the empty line aborts.
				if werr := c.write(batch.String() + eol); werr != nil {
					return err, werr
				}
				return err, nil
			}
			batch.WriteString(base64.StdEncoding.EncodeToString(chunk[:k]))
			batch.WriteString(eol)
			sent += k
		}
		select {
		case <-stop:
			return nil, nil
		default:
		}
		if err := c.write(batch.String()); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// isBase64Line reports whether line looks like the echo of a payload
// line.
func isBase64Line(line string) bool {
	if line == "" || len(line)%4 != 0 || len(line) > hotpatch.UploadLineMax {
		return false
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}
