// cmd/hvctl: host-side control of a running tamavisor over its serial console.
// SPDX-License-Identifier: BSD-3-Clause

package console

import (
	"bufio"
	"errors"
	"flag"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tamavisor/tamavisor/internal/seedcorpus"
)

// replySeeds are FuzzConsoleReply's seeds, committed under
// testdata/fuzz/FuzzConsoleReply (TestSeedCorpus).
var replySeeds = []struct {
	name string
	b    []byte
}{
	{"reply-and-prompt", []byte("patch get fix-1 --json\r\n{\"name\":\"fix-1\",\"state\":\"LOADED\",\"rc\":0,\"error\":\"\"}\r\ntamavisor> ")},
	{"prompts-and-error", []byte("tamavisor> tamavisor> {\"error\":\"hotpatch: no payload \\\"fix-1\\\" (ENOENT)\"}\r\n")},
	{"log-lines-and-bad-rc", []byte("{\"log\":1}\r\ntamavisor: vm 1: crashed\r\n{\"name\":\"x\",\"state\":\"APPLIED\",\"rc\":\"ENOSYS\"}\n")},
	{"wrong-types-and-binary", []byte("{\"name\":\"x\",\"state\":7,\"rc\":[]}\r\n\x00\xff\r\r\n{\"error\":3}\n")},
	{"half-line", []byte("half a line with no end")},
}

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz from the seeds in the tests")

// TestSeedCorpus checks that testdata/fuzz/FuzzConsoleReply holds the
// seeds in Go's corpus format; "go test -run TestSeedCorpus
// -write-corpus" rewrites them.
func TestSeedCorpus(t *testing.T) {
	for _, s := range replySeeds {
		seedcorpus.Sync(t, filepath.Join("testdata", "fuzz", "FuzzConsoleReply"), s.name, seedcorpus.Bytes(s.b), *writeCorpus)
	}
}

// FuzzConsoleReply plays a console that answers `patch get fix-1 --json`
// with arbitrary bytes before the shell's answer to the sync line:
// whatever they are (half lines, prompts, CR without LF, fake JSON, fake
// errors, binary), RunJSON must return at once with a reply, a
// RemoteError or ErrNoReply, never panic, time out or take a line it did
// not decode as the reply.
func FuzzConsoleReply(f *testing.F) {
	for _, s := range replySeeds {
		f.Add(s.b)
	}
	f.Fuzz(func(t *testing.T, junk []byte) {
		client, peer := net.Pipe()
		defer peer.Close()
		c := newConn(client, 2*time.Second)
		defer c.Close()
		go func() {
			// Read the command line and the sync line, then answer.
			r := bufio.NewReader(peer)
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			tok, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tok = strings.TrimSpace(tok)
			if _, err := peer.Write(junk); err != nil {
				return
			}
			_, _ = peer.Write([]byte("\r\nerror: unknown command \"" + tok + "\" (try help)\r\ntamavisor> "))
		}()
		var st Status
		start := time.Now()
		raw, err := c.RunJSON("patch get fix-1", &st, "name", "state")
		var re *RemoteError
		switch {
		case err == nil:
			if !strings.Contains(string(junk), string(raw)) {
				t.Fatalf("reply %q is not in the console output", raw)
			}
		case errors.As(err, &re), errors.Is(err, ErrNoReply):
		default:
			t.Fatalf("RunJSON: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("RunJSON took %v", d)
		}
	})
}
