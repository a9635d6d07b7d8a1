// hotpatch: live patching of the running hypervisor (xSplice/livepatch semantics).
// SPDX-License-Identifier: BSD-3-Clause

package hotpatch

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tamavisor/tamavisor/hv/shell"
)

// lines feeds a shell one line per Read, as a console delivers them.
type lines struct{ parts []string }

func (l *lines) Read(p []byte) (int, error) {
	if len(l.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, l.parts[0])
	if n == len(l.parts[0]) {
		l.parts = l.parts[1:]
	} else {
		l.parts[0] = l.parts[0][n:]
	}
	return n, nil
}

// runPatchShell runs a shell with the patch command over m on input.
func runPatchShell(t *testing.T, m *Manager, input ...string) string {
	t.Helper()
	out := &bytes.Buffer{}
	sh := shell.New(&lines{parts: input}, out)
	sh.SetEcho(false)
	for _, c := range Commands(m) {
		if err := sh.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	sh.Run()
	return out.String()
}

// uploadLines is the console input that uploads raw as name, in base64
// lines of chunk bytes.
func uploadLines(name string, raw []byte, chunk int) []string {
	sum := sha256.Sum256(raw)
	in := []string{fmt.Sprintf("patch upload %s %d %s\r", name, len(raw), hex.EncodeToString(sum[:]))}
	for i := 0; i < len(raw); i += chunk {
		in = append(in, base64.StdEncoding.EncodeToString(raw[i:min(i+chunk, len(raw))])+"\r")
	}
	return in
}

func TestPatchCommandUploadAndActions(t *testing.T) {
	m, _ := newTest(t)
	raw := []byte("alpha,beta")
	in := uploadLines("fix-1", raw, 4)
	in = append(in, "patch check fix-1 --wait\r", "patch apply fix-1 5 --wait\r", "patch --json get fix-1\r",
		"patch list\r", "patch --json list\r", "patch unload fix-1\r", "patch revert fix-1 --wait\r",
		"patch unload fix-1\r", "patch get fix-1\r")
	got := runPatchShell(t, m, in...)
	for _, want := range []string{
		"patch upload: send 10 bytes as base64 lines",
		"fix-1: LOADED rc=OK",
		"fix-1: CHECKED rc=OK",
		"fix-1: APPLIED rc=OK",
		`{"name":"fix-1","state":"APPLIED","rc":0,"error":""}`,
		"fix-1                            APPLIED",
		`"patches":[{"name":"fix-1","state":"APPLIED"`,
		"UNLOAD is not allowed in state APPLIED (only from LOADED or CHECKED) (EINVAL)",
		"fix-1: unloaded",
		`no payload "fix-1" (ENOENT)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestPatchCommandUploadRefusals(t *testing.T) {
	raw := []byte("alpha")
	sum := sha256.Sum256(raw)
	good := hex.EncodeToString(sum[:])
	b64 := base64.StdEncoding.EncodeToString(raw)
	cases := []struct {
		name  string
		input []string
		want  string
	}{
		{"bad size", []string{"patch upload a 0 " + good + "\r"}, "SIZE \"0\""},
		{"huge size", []string{"patch upload a 99999999999 " + good + "\r"}, "SIZE"},
		{"bad sum", []string{"patch upload a 5 xyz\r"}, "SHA256 \"xyz\""},
		{"long name", []string{"patch upload " + strings.Repeat("n", 129) + " 5 " + good + "\r"}, "ENAMETOOLONG"},
		{"wrong sum", []string{"patch upload a 5 " + strings.Repeat("00", 32) + "\r", b64 + "\r"}, "does not match"},
		{"aborted", []string{"patch upload a 5 " + good + "\r", "\r"}, "aborted by an empty line"},
		{"not base64", []string{"patch upload a 5 " + good + "\r", "!!!!\r"}, "illegal base64"},
		{"too much", []string{"patch upload a 2 " + good + "\r", b64 + "\r"}, "5 bytes sent, 2 announced"},
		{"line too long", []string{"patch upload a 5 " + good + "\r", strings.Repeat("A", 244) + "\r"}, "max 240"},
		{"engine refuses", uploadLines("a", []byte("!"), 4), "ENOEXEC"},
	}
	for _, c := range cases {
		m, eng := newTest(t)
		got := runPatchShell(t, m, append(c.input, "patch --json list\r")...)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: output lacks %q:\n%s", c.name, c.want, got)
		}
		if !strings.Contains(got, `"patches":[]`) || len(eng.liveIDs()) != 0 {
			t.Errorf("%s: something was stored:\n%s", c.name, got)
		}
	}
}

func TestPatchCommandUsage(t *testing.T) {
	m, _ := newTest(t)
	got := runPatchShell(t, m, "patch\r", "patch frobnicate x\r", "patch get\r", "patch check\r",
		"patch check a b c\r", "patch check a -1\r", "patch list x\r", "patch list 0 99\r")
	for _, want := range []string{"error: usage: patch", "bad TIMEOUT_MS \"-1\"", "bad START \"x\"", "E2BIG"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	var st Status
	m2, _ := newTest(t)
	upload(t, m2, "p", "f")
	out := runPatchShell(t, m2, "patch --json get p\r")
	line, _, _ := strings.Cut(out[strings.Index(out, "{"):], "\n")
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &st); err != nil || st.Name != "p" || st.State != StateLoaded {
		t.Errorf("get --json: %v %+v in %q", err, st, out)
	}
}
