// cmd/hvctl: host-side control of a running tamavisor over its serial console.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/cmd/hvctl/internal/fakehv"
)

// hvctl runs the command line and returns its exit status and output.
func hvctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	t.Setenv(consoleEnv, "")
	for _, c := range []struct {
		args []string
		want string // in stderr
	}{
		{nil, "no command"},
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"-nosuchflag", "patch", "list"}, "flag provided but not defined"},
		{[]string{"-timeout", "soon", "patch", "list"}, "invalid value"},
		{[]string{"-console", "unix:/x", "-timeout", "0s", "patch", "list"}, "-timeout 0s"},
		{[]string{"patch", "list"}, "no console"},
		{[]string{"-console", "stdio", "patch", "list"}, "bad console address"},
		{[]string{"-console", "tcp:nohost", "patch", "list"}, "bad console address"},
		{[]string{"patch"}, "no subcommand"},
		{[]string{"patch", "frob", "x"}, `unknown subcommand "frob"`},
		{[]string{"patch", "list", "x"}, "takes no arguments"},
		{[]string{"patch", "stats", "x"}, "takes no arguments"},
		{[]string{"patch", "get"}, "usage: patch get NAME"},
		{[]string{"patch", "get", "a", "b"}, "usage: patch get NAME"},
		{[]string{"patch", "get", "-wait", "a"}, "usage: patch get NAME"},
		{[]string{"patch", "upload", "x"}, "usage: patch upload NAME FILE"},
		{[]string{"patch", "apply"}, "usage: patch apply NAME"},
		{[]string{"patch", "apply", "a", "b"}, "usage: patch apply NAME"},
		{[]string{"patch", "apply", "a", "-timeout-ms", "-5"}, "want 0 or more"},
		{[]string{"patch", "apply", "a", "-timeout-ms", "x"}, "invalid value"},
		{[]string{"patch", "apply", "a", "-frob"}, "flag provided but not defined"},
		{[]string{"run"}, "no shell command"},
		{[]string{"run", "--"}, "no shell command"},
		{[]string{"-console", "unix:/nonexistent/x", "run", "vm", "console", "linux"}, "vm console takes the console over"},
	} {
		code, _, stderr := hvctl(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "usage: hvctl") {
			t.Errorf("hvctl %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		if code, stdout, _ := hvctl(t, args...); code != exitOK || !strings.HasPrefix(stdout, "usage: hvctl") {
			t.Errorf("hvctl %q: exit %d, %q", args, code, stdout)
		}
	}
}

func TestUnreachable(t *testing.T) {
	start := time.Now()
	code, _, stderr := hvctl(t, "-console", "unix:"+filepath.Join(t.TempDir(), "none"), "-timeout", "200ms", "patch", "list")
	if code != exitConsole || !strings.Contains(stderr, "timeout") {
		t.Errorf("exit %d, %q", code, stderr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestPatch(t *testing.T) {
	s := fakehv.Start(t, fakehv.Options{Junk: 5 * time.Millisecond})
	s.Engine.SetDelay(30 * time.Millisecond)
	t.Setenv(consoleEnv, s.Spec+",server=on,wait=off") // the QEMU spec, pasted

	dir := t.TempDir()
	good := filepath.Join(dir, "fix-1.hp")
	nosys := filepath.Join(dir, "nosys.hp")
	if err := os.WriteFile(good, bytes.Repeat([]byte("payload "), 600), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nosys, []byte("payload NOSYS"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		args   []string
		code   int
		stdout string // exact, if not ""
		stderr string // contained
	}{
		{[]string{"patch", "upload", "fix-1", good}, exitOK, "fix-1: LOADED rc=OK\n", ""},
		{[]string{"patch", "upload", "fix-1", good}, exitFailed, "", `hvctl: hotpatch: upload "fix-1": a payload with that name exists (EEXIST)`},
		{[]string{"patch", "upload", "x", filepath.Join(dir, "missing")}, exitFailed, "", "no such file"},
		{[]string{"--json", "patch", "upload", "nosys", nosys}, exitOK, `{"name":"nosys","state":"LOADED","rc":0,"error":""}` + "\n", ""},
		{[]string{"patch", "get", "fix-1"}, exitOK, "fix-1: LOADED rc=OK\n", ""},
		{[]string{"patch", "get", "nosuch"}, exitFailed, "", `hvctl: hotpatch: no payload "nosuch" (ENOENT)`},
		{[]string{"--json", "patch", "get", "nosuch"}, exitFailed, `{"error":"hotpatch: no payload \"nosuch\" (ENOENT)"}` + "\n", "ENOENT"},
		{[]string{"patch", "check", "fix-1", "-wait"}, exitOK, "fix-1: CHECKED rc=OK\n", ""},
		{[]string{"patch", "apply", "-timeout-ms", "50", "fix-1", "--wait"}, exitOK, "fix-1: APPLIED rc=OK\n", ""},
		{[]string{"patch", "check", "-wait", "--", "nosys"}, exitOK, "nosys: CHECKED rc=OK\n", ""},
		{[]string{"patch", "apply", "nosys", "-wait"}, exitFailed, "", "hvctl: patch apply nosys: CHECKED rc=ENOSYS: hotpatch: payload \"nosys\": APPLY failed in apply: fake: apply is not implemented: ENOSYS (ENOSYS)"},
		{[]string{"patch", "revert", "nosys", "-wait"}, exitFailed, "", "not allowed in state CHECKED"},
		{[]string{"patch", "unload", "nosys"}, exitOK, "nosys: unloaded\n", ""},
		{[]string{"run", "--", "patch", "get", "fix-1"}, exitOK, "", ""},
		// The fake engine keeps no statistics (or, in older trees, the
		// shell has no patch stats): the hypervisor's error either way.
		{[]string{"patch", "stats"}, exitFailed, "", "hvctl: "},
		{[]string{"run", "nosuch"}, exitFailed, "", `hvctl: unknown command "nosuch" (try help)`},
		{[]string{"--json", "run", "patch", "get", "nosuch"}, exitFailed, "", "ENOENT"},
	} {
		code, stdout, stderr := hvctl(t, c.args...)
		if code != c.code || (c.stdout != "" && stdout != c.stdout) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("hvctl %q:\nexit %d, stdout %q, stderr %q\nwant %d, %q, %q", c.args, code, stdout, stderr, c.code, c.stdout, c.stderr)
		}
	}

	// apply without -wait: started, pending.
	code, stdout, _ := hvctl(t, "patch", "revert", "fix-1")
	if code != exitOK || stdout != "fix-1: APPLIED rc=EAGAIN\n" {
		t.Errorf("revert: exit %d, %q", code, stdout)
	}
	<-s.Manager.Done()

	code, stdout, _ = hvctl(t, "patch", "list")
	if code != exitOK || !strings.HasPrefix(stdout, "NAME   STATE    RC  ERROR\nfix-1  CHECKED  OK") || !strings.HasSuffix(stdout, "1 payloads, list version 4\n") {
		t.Errorf("list: exit %d, %q", code, stdout)
	}
	code, stdout, _ = hvctl(t, "--json", "patch", "list")
	var l struct {
		Version int `json:"version"`
		Patches []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			RC    int    `json:"rc"`
		} `json:"patches"`
	}
	if err := json.Unmarshal([]byte(stdout), &l); code != exitOK || err != nil || l.Version != 4 || len(l.Patches) != 1 || l.Patches[0].State != "CHECKED" {
		t.Errorf("list --json: exit %d, %q, %v", code, stdout, err)
	}
	code, stdout, _ = hvctl(t, "run", "help", "patch")
	if code != exitOK || !strings.Contains(stdout, "patch list [START [NR]]") {
		t.Errorf("run help patch: exit %d, %q", code, stdout)
	}
}
