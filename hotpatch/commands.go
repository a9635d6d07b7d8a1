// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tamavisor/tamavisor/hv/shell"
)

// Upload over the console: "patch upload NAME SIZE SHA256" is followed by
// the payload as lines of standard base64 (RFC 4648 section 4, padded),
// each at most UploadLineMax characters (the shell's line limit is 256),
// until SIZE bytes have arrived; then the SHA-256 must match. An empty
// line aborts. Nothing is stored unless every check passes.
const (
	UploadLineMax = 240
	// UploadMax bounds SIZE (the payload format's own limit, plus its
	// signature trailer, is below it).
	UploadMax = 8 << 20
)

var errUploadAborted = errors.New("upload aborted by an empty line")

// Commands returns the operator shell's "patch" command over m.
func Commands(m *Manager) []shell.Command {
	return []shell.Command{{
		Name: "patch",
		Args: "list [START [NR]] | get NAME | stats | upload NAME SIZE SHA256 | check|apply|revert|replace|unload NAME [TIMEOUT_MS] [--wait]",
		Help: "live patches: upload signed payloads, list them, check, apply, revert, replace, unload (docs/hotpatch.md)",
		Run:  func(c *shell.Context, args []string) error { return runPatch(c, m, args) },
	}}
}

func runPatch(c *shell.Context, m *Manager, args []string) error {
	if len(args) == 0 {
		return c.Usage()
	}
	switch verb := args[0]; verb {
	case "list":
		return patchList(c, m, args[1:])
	case "get":
		if len(args) != 2 {
			return c.Usage()
		}
		st, err := m.Get(args[1])
		if err != nil {
			return err
		}
		return printStatus(c, st)
	case "stats":
		if len(args) != 1 {
			return c.Usage()
		}
		return patchStats(c, m)
	case "upload":
		if len(args) != 4 {
			return c.Usage()
		}
		return patchUpload(c, m, args[1], args[2], args[3])
	default:
		var a ActionKind
		if err := a.UnmarshalText([]byte(strings.ToUpper(verb))); err != nil {
			return c.Usage()
		}
		return patchAction(c, m, a, args[1:])
	}
}

func printStatus(c *shell.Context, st Status) error {
	if c.JSON {
		return json.NewEncoder(c.Out).Encode(st)
	}
	fmt.Fprintf(c.Out, "%s: %s rc=%s", st.Name, st.State, st.RC)
	if st.Error != "" {
		fmt.Fprintf(c.Out, " (%s)", st.Error)
	}
	fmt.Fprintln(c.Out)
	return nil
}

func patchList(c *shell.Context, m *Manager, args []string) error {
	start, nr := 0, MaxListNr
	var err error
	if len(args) > 2 {
		return c.Usage()
	}
	if len(args) > 0 {
		if start, err = strconv.Atoi(args[0]); err != nil || start < 0 {
			return fmt.Errorf("patch list: bad START %q", args[0])
		}
	}
	if len(args) > 1 {
		if nr, err = strconv.Atoi(args[1]); err != nil || nr < 0 {
			return fmt.Errorf("patch list: bad NR %q", args[1])
		}
	}
	r, err := m.List(start, nr)
	if err != nil {
		return err
	}
	if c.JSON {
		if r.Entries == nil {
			r.Entries = []Status{}
		}
		return json.NewEncoder(c.Out).Encode(struct {
			Version   uint64   `json:"version"`
			Remaining int      `json:"remaining"`
			Patches   []Status `json:"patches"`
		}{r.Version, r.Remaining, r.Entries})
	}
	fmt.Fprintf(c.Out, "%-32s %-8s %-13s %s\n", "NAME", "STATE", "RC", "ERROR")
	for _, st := range r.Entries {
		fmt.Fprintf(c.Out, "%-32s %-8s %-13s %s\n", st.Name, st.State, st.RC, st.Error)
	}
	fmt.Fprintf(c.Out, "version %d, %d more\n", r.Version, r.Remaining)
	return nil
}

func patchUpload(c *shell.Context, m *Manager, name, sizeArg, sumArg string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	size, err := strconv.Atoi(sizeArg)
	if err != nil || size <= 0 || size > UploadMax {
		return fmt.Errorf("patch upload: SIZE %q: want 1..%d bytes", sizeArg, UploadMax)
	}
	want, err := hex.DecodeString(sumArg)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("patch upload: SHA256 %q: want %d hex digits", sumArg, 2*sha256.Size)
	}
	if c.Shell == nil {
		return errors.New("patch upload: no console to read the payload from")
	}
	fmt.Fprintf(c.Out, "patch upload: send %d bytes as base64 lines of at most %d characters (an empty line aborts)\n", size, UploadLineMax)
	raw, err := readBase64(c.Shell.ReadLine, size)
	if err != nil {
		return fmt.Errorf("patch upload %s: %w; nothing stored", name, err)
	}
	if sum := sha256.Sum256(raw); !bytes.Equal(sum[:], want) {
		return fmt.Errorf("patch upload %s: SHA-256 %x does not match %x; nothing stored", name, sum, want)
	}
	if err := m.Upload(name, raw); err != nil {
		return err
	}
	st, err := m.Get(name)
	if err != nil {
		return err
	}
	return printStatus(c, st)
}

// readBase64 collects size bytes from base64 lines read by next.
func readBase64(next func() (string, error), size int) ([]byte, error) {
	raw := make([]byte, 0, size)
	for len(raw) < size {
		line, err := next()
		if err != nil {
			return nil, err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			return nil, errUploadAborted
		}
		if len(line) > UploadLineMax {
			return nil, fmt.Errorf("base64 line of %d characters (max %d)", len(line), UploadLineMax)
		}
		b, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("after %d bytes: %w", len(raw), err)
		}
		if len(raw)+len(b) > size {
			return nil, fmt.Errorf("%d bytes sent, %d announced", len(raw)+len(b), size)
		}
		raw = append(raw, b...)
	}
	return raw, nil
}

func patchAction(c *shell.Context, m *Manager, a ActionKind, args []string) error {
	wait := false
	var rest []string
	for _, w := range args {
		if w == "--wait" {
			wait = true
			continue
		}
		rest = append(rest, w)
	}
	if len(rest) < 1 || len(rest) > 2 {
		return c.Usage()
	}
	name := rest[0]
	timeout := time.Duration(0)
	if len(rest) == 2 {
		ms, err := strconv.Atoi(rest[1])
		if err != nil || ms < 0 {
			return fmt.Errorf("patch %s: bad TIMEOUT_MS %q", strings.ToLower(a.String()), rest[1])
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	if err := m.Action(name, a, timeout); err != nil {
		return err
	}
	if a == ActionUnload {
		if c.JSON {
			return json.NewEncoder(c.Out).Encode(map[string]string{"name": name, "state": "UNLOADED"})
		}
		fmt.Fprintf(c.Out, "%s: unloaded\n", name)
		return nil
	}
	if wait {
		if timeout == 0 {
			timeout = DefaultTimeout
		}
		select {
		case <-m.Done():
		case <-time.After(timeout + 10*time.Second):
		}
	}
	st, err := m.Get(name)
	if err != nil {
		return err
	}
	return printStatus(c, st)
}

// statsReporter is an Engine that keeps EngineStats (PayloadEngine).
type statsReporter interface{ Stats() EngineStats }

// patchStats prints the engine's counters and stop-the-world times
// (docs/hotpatch.md, "Pause").
func patchStats(c *shell.Context, m *Manager) error {
	r, ok := m.engine.(statsReporter)
	if !ok {
		return fmt.Errorf("%w: this engine keeps no statistics", ENOSYS)
	}
	s := r.Stats()
	kinds := []struct {
		name string
		p    PauseStats
	}{{"apply", s.Apply}, {"revert", s.Revert}, {"replace", s.Replace}}
	if c.JSON {
		obj := map[string]any{
			"applies": s.Applies, "reverts": s.Reverts, "busy": s.Busy,
			"last_quiesce_ns": s.LastQuiesce.Nanoseconds(), "last_pause_ns": s.LastPause.Nanoseconds(),
			"max_pause_ns": s.MaxPause.Nanoseconds(), "modules": s.Modules,
			"arena_size": s.ArenaSize, "arena_free": s.ArenaFree, "arena_retired": s.ArenaRetired,
		}
		for _, k := range kinds {
			mq, mp := k.p.Mean()
			obj[k.name] = map[string]any{
				"n": k.p.N, "mean_quiesce_ns": mq.Nanoseconds(), "max_quiesce_ns": k.p.QuiesceMax.Nanoseconds(),
				"mean_pause_ns": mp.Nanoseconds(), "max_pause_ns": k.p.PauseMax.Nanoseconds(),
			}
		}
		return json.NewEncoder(c.Out).Encode(obj)
	}
	fmt.Fprintf(c.Out, "applies %d reverts %d busy %d\n", s.Applies, s.Reverts, s.Busy)
	fmt.Fprintf(c.Out, "last quiesce %v, last pause %v, max pause %v (Xen's default quiesce timeout: 30ms)\n", s.LastQuiesce, s.LastPause, s.MaxPause)
	for _, k := range kinds {
		mq, mp := k.p.Mean()
		fmt.Fprintf(c.Out, "%-7s n %d quiesce mean %v max %v, pause mean %v max %v\n", k.name, k.p.N, mq, k.p.QuiesceMax, mp, k.p.PauseMax)
	}
	fmt.Fprintf(c.Out, "modules %d, arena %d bytes, %d free, %d retired\n", s.Modules, s.ArenaSize, s.ArenaFree, s.ArenaRetired)
	return nil
}
