// cmd/mkinitramfs: host tool that builds a gzip-compressed newc initramfs.
// SPDX-License-Identifier: BSD-3-Clause

package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one member of a newc archive as read back by readNewc.
type cpioEntry struct {
	Off, DataOff                        int // offsets of the header and the data
	Ino, Mode, UID, GID, Nlink, Mtime   uint32
	Size, DevMajor, DevMinor            uint32
	RdevMajor, RdevMinor, NameSize, Chk uint32
	Name                                string
	Data                                []byte
}

// readNewc parses a newc archive independently of the writer. It
// returns the members before the trailer and fails unless every header
// is 4-byte aligned, all padding is zero, the trailer is present and
// nothing follows it.
func readNewc(b []byte) ([]cpioEntry, error) {
	var out []cpioEntry
	off := 0
	for {
		if off%4 != 0 {
			return nil, fmt.Errorf("header at %d is not 4-byte aligned", off)
		}
		if len(b)-off < 110 {
			return nil, fmt.Errorf("truncated header at %d (no trailer?)", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			return nil, fmt.Errorf("bad magic %q at %d", h[:6], off)
		}
		var f [13]uint32
		for i := range f {
			s := string(h[6+8*i : 14+8*i])
			v, err := strconv.ParseUint(s, 16, 32)
			if err != nil || strings.ContainsAny(s, "+-xX_") {
				return nil, fmt.Errorf("bad field %d %q at %d", i, s, off)
			}
			f[i] = uint32(v)
		}
		e := cpioEntry{Off: off, Ino: f[0], Mode: f[1], UID: f[2], GID: f[3], Nlink: f[4],
			Mtime: f[5], Size: f[6], DevMajor: f[7], DevMinor: f[8], RdevMajor: f[9],
			RdevMinor: f[10], NameSize: f[11], Chk: f[12]}
		p := off + 110
		if e.NameSize == 0 || uint64(len(b)-p) < uint64(e.NameSize) {
			return nil, fmt.Errorf("bad namesize %d at %d", e.NameSize, off)
		}
		name := b[p : p+int(e.NameSize)]
		if name[len(name)-1] != 0 || bytes.IndexByte(name[:len(name)-1], 0) >= 0 {
			return nil, fmt.Errorf("name at %d is not one NUL-terminated string", off)
		}
		e.Name = string(name[:len(name)-1])
		p += int(e.NameSize)
		for ; p%4 != 0; p++ {
			if p >= len(b) || b[p] != 0 {
				return nil, fmt.Errorf("bad name padding after %q", e.Name)
			}
		}
		if e.Name == Trailer {
			if p != len(b) {
				return nil, fmt.Errorf("%d bytes after the trailer", len(b)-p)
			}
			return out, nil
		}
		if uint64(len(b)-p) < uint64(e.Size) {
			return nil, fmt.Errorf("truncated data of %q", e.Name)
		}
		e.DataOff, e.Data = p, b[p:p+int(e.Size)]
		p += int(e.Size)
		for ; p%4 != 0; p++ {
			if p >= len(b) || b[p] != 0 {
				return nil, fmt.Errorf("bad data padding after %q", e.Name)
			}
		}
		out = append(out, e)
		off = p
	}
}

func mustParse(t testing.TB, specs ...string) []Entry {
	t.Helper()
	var es []Entry
	for _, s := range specs {
		e, err := ParseEntry(s)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

// mapOpen serves host files from a map.
func mapOpen(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
}

func TestParseEntry(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Entry
	}{
		{"dir:/proc", Entry{Kind: Dir, Path: "proc", Mode: 0755}},
		{"dir:/usr/lib:0700", Entry{Kind: Dir, Path: "usr/lib", Mode: 0700}},
		{"dir:/tmp:1777", Entry{Kind: Dir, Path: "tmp", Mode: 01777}},
		{"dir:/a=b:0", Entry{Kind: Dir, Path: "a=b", Mode: 0}},
		{"file:/bin/busybox=build/busybox", Entry{Kind: File, Path: "bin/busybox", Source: "build/busybox"}},
		{"file:/etc/passwd=passwd:0644", Entry{Kind: File, Path: "etc/passwd", Source: "passwd", Mode: 0644, ModeSet: true}},
		{"file:/x=a:b:0600", Entry{Kind: File, Path: "x", Source: "a:b", Mode: 0600, ModeSet: true}},
		{"file:/x=a=b", Entry{Kind: File, Path: "x", Source: "a=b"}},
		{"symlink:/bin/sh=busybox", Entry{Kind: Symlink, Path: "bin/sh", Target: "busybox", Mode: 0777}},
		{"symlink:/lib=/usr/lib:x=y", Entry{Kind: Symlink, Path: "lib", Target: "/usr/lib:x=y", Mode: 0777}},
		{"nod:/dev/console:c:5:1", Entry{Kind: Node, Path: "dev/console", Dev: 'c', Major: 5, Minor: 1, Mode: 0600}},
		{"nod:/dev/sda:b:8:0:0660", Entry{Kind: Node, Path: "dev/sda", Dev: 'b', Major: 8, Minor: 0, Mode: 0660}},
		{"nod:/dev/x:c:4095:1048575", Entry{Kind: Node, Path: "dev/x", Dev: 'c', Major: 4095, Minor: 1048575, Mode: 0600}},
		{"dir:/" + strings.Repeat("a", 255), Entry{Kind: Dir, Path: strings.Repeat("a", 255), Mode: 0755}},
	} {
		got, err := ParseEntry(tc.in)
		if err != nil {
			t.Errorf("ParseEntry(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseEntry(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		back, err := ParseEntry(got.String())
		if err != nil || back != got {
			t.Errorf("ParseEntry(%q.String() = %q) = %+v, %v", tc.in, got.String(), back, err)
		}
	}
	// The longest accepted PATH is 4095 bytes with its '/'.
	long := "/" + strings.Repeat(strings.Repeat("a", 99)+"/", 40) + strings.Repeat("b", 94)
	if len(long) != MaxPath {
		t.Fatalf("test path is %d bytes", len(long))
	}
	if _, err := ParseEntry("dir:" + long); err != nil {
		t.Errorf("%d-byte path: %v", len(long), err)
	}
	if _, err := ParseEntry("dir:" + long + "b"); err == nil || !strings.Contains(err.Error(), "longer than 4095") {
		t.Errorf("%d-byte path: err = %v", len(long)+1, err)
	}
}

func TestParseEntryErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "want KIND"},
		{"proc", "want KIND"},
		{"fifo:/x", "unknown kind"},
		{"Dir:/x", "unknown kind"},
		{"-o", "flags must come before"},
		{"dir:", "empty PATH"},
		{"dir::0755", "empty PATH"},
		{"dir:/", "root"},
		{"dir:proc", "relative"},
		{"dir:./proc", "relative"},
		{"dir:/a/../b", `".." component`},
		{"dir:/..", `".." component`},
		{"dir:/a/./b", `"." component`},
		{"dir:/a//b", "empty component"},
		{"dir:/a/", "empty component"},
		{"dir://a", "empty component"},
		{"dir:/a\x00b", "NUL"},
		{"dir:/" + strings.Repeat("a", 256), "longer than 255"},
		{"dir:/" + strings.Repeat("a/", 2048), "longer than 4095"},
		{"dir:/a:0755:1", "too many fields"},
		{"dir:/a:", "empty MODE"},
		{"dir:/a:0800", "MODE"},
		{"dir:/a:10000", "MODE"},
		{"dir:/a:-1", "MODE"},
		{"dir:/a:+7", "MODE"},
		{"dir:/a:0x7", "MODE"},
		{"dir:/a:rwx", "MODE"},
		{"file:/a", "no '='"},
		{"file:/a=", "empty HOSTFILE"},
		{"file:/a=:0644", "empty HOSTFILE"},
		{"file:/a=x:", "empty MODE"},
		{"file:/a=x:y", "MODE"},
		{"file:a=x", "relative"},
		{"file:=x", "empty PATH"},
		{"file:/a:b=x", "contains ':'"},
		{"file:/a=x\x00y:0644", "NUL"},
		{"symlink:/a", "no '='"},
		{"symlink:/a=", "empty symlink TARGET"},
		{"symlink:/a=b\x00", "NUL"},
		{"symlink:/a=" + strings.Repeat("t", 4096), "longer than 4095"},
		{"symlink:/a/../b=c", `".." component`},
		{"nod:/dev/x", "want nod:"},
		{"nod:/dev/x:c:1", "want nod:"},
		{"nod:/dev/x:c:1:2:0600:9", "want nod:"},
		{"nod:/dev/x:p:1:2", "not c or b"},
		{"nod:/dev/x:C:1:2", "not c or b"},
		{"nod:/dev/x:c::2", "MAJOR"},
		{"nod:/dev/x:c:a:2", "MAJOR"},
		{"nod:/dev/x:c:-1:2", "MAJOR"},
		{"nod:/dev/x:c:0x5:2", "MAJOR"},
		{"nod:/dev/x:c:4096:2", "MAJOR"},
		{"nod:/dev/x:c:1:1048576", "MINOR"},
		{"nod:/dev/x:c:1:99999999999", "MINOR"},
		{"nod:/dev/x:b:1:2:", "empty MODE"},
		{"nod:/dev/x:b:1:2:9", "MODE"},
		{"nod:dev/x:b:1:2", "relative"},
		{"nod::b:1:2", "empty PATH"},
	} {
		e, err := ParseEntry(tc.in)
		if err == nil {
			t.Errorf("ParseEntry(%q) = %+v, want error containing %q", tc.in, e, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseEntry(%q): error %q does not contain %q", tc.in, err, tc.want)
		}
		if strings.ContainsAny(err.Error(), "\n\x00") {
			t.Errorf("ParseEntry(%q): error %q is not one printable line", tc.in, err)
		}
		if e != (Entry{}) {
			t.Errorf("ParseEntry(%q) returned %+v with its error", tc.in, e)
		}
	}
}

func TestWriteReadBack(t *testing.T) {
	entries := mustParse(t,
		"dir:/proc",
		"dir:/tmp:1777",
		"file:/bin/busybox=bb:0755",
		"symlink:/bin/sh=busybox",
		"nod:/dev/console:c:5:1",
		"nod:/dev/sda:b:8:0:0660",
		"file:/etc/empty=empty:0600",
		"file:/etc/three=three",
		"symlink:/lib=usr/lib64",
	)
	files := map[string]string{"bb": "BUSYBOX\x00\x01binary", "empty": "", "three": "abc"}
	var buf bytes.Buffer
	if err := Write(&buf, entries, mapOpen(files)); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive is %d bytes, not a multiple of 4", buf.Len())
	}
	got, err := readNewc(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		name         string
		mode, nlink  uint32
		data         string
		rmaj, rminor uint32
	}
	wants := []want{
		{"proc", 0040755, 2, "", 0, 0},
		{"tmp", 0041777, 2, "", 0, 0},
		{"bin", 0040755, 2, "", 0, 0},
		{"bin/busybox", 0100755, 1, files["bb"], 0, 0},
		{"bin/sh", 0120777, 1, "busybox", 0, 0},
		{"dev", 0040755, 2, "", 0, 0},
		{"dev/console", 0020600, 1, "", 5, 1},
		{"dev/sda", 0060660, 1, "", 8, 0},
		{"etc", 0040755, 2, "", 0, 0},
		{"etc/empty", 0100600, 1, "", 0, 0},
		{"etc/three", 0100644, 1, "abc", 0, 0}, // no mode and not resolved: 0644
		{"lib", 0120777, 1, "usr/lib64", 0, 0},
	}
	if len(got) != len(wants) {
		for _, g := range got {
			t.Logf("%q %o", g.Name, g.Mode)
		}
		t.Fatalf("read %d entries, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.Name != w.name || g.Mode != w.mode || g.Nlink != w.nlink || string(g.Data) != w.data ||
			g.RdevMajor != w.rmaj || g.RdevMinor != w.rminor {
			t.Errorf("entry %d = %q mode %o nlink %d data %q rdev %d:%d, want %+v",
				i, g.Name, g.Mode, g.Nlink, g.Data, g.RdevMajor, g.RdevMinor, w)
		}
		if g.Ino != uint32(i+1) {
			t.Errorf("%q: ino %d, want %d", g.Name, g.Ino, i+1)
		}
		if g.UID != 0 || g.GID != 0 || g.Mtime != 0 || g.DevMajor != 0 || g.DevMinor != 0 || g.Chk != 0 {
			t.Errorf("%q: uid %d gid %d mtime %d dev %d:%d check %d, want all 0",
				g.Name, g.UID, g.GID, g.Mtime, g.DevMajor, g.DevMinor, g.Chk)
		}
		if g.NameSize != uint32(len(g.Name)+1) {
			t.Errorf("%q: namesize %d", g.Name, g.NameSize)
		}
		if g.Off%4 != 0 || g.DataOff%4 != 0 {
			t.Errorf("%q: header at %d, data at %d, not 4-byte aligned", g.Name, g.Off, g.DataOff)
		}
		const typeMask = 0170000
		switch w.mode & typeMask {
		case 0040000, 0100000, 0120000, 0020000, 0060000:
		default:
			t.Errorf("%q: unexpected type bits %o", g.Name, g.Mode&typeMask)
		}
	}
	// readNewc insists on the trailer; check it by hand too.
	z := "00000000"
	trailer := "070701" + z + z + z + z + "00000001" + z + z + z + z + z + z + "0000000B" + z +
		Trailer + "\x00\x00\x00\x00"
	if !bytes.HasSuffix(buf.Bytes(), []byte(trailer)) {
		t.Errorf("archive does not end with the trailer: %q", buf.Bytes()[buf.Len()-len(trailer):])
	}
	if (buf.Len()-len(trailer))%4 != 0 {
		t.Error("trailer header is not 4-byte aligned")
	}
	if _, err := readNewc(buf.Bytes()[:buf.Len()-len(trailer)]); err == nil {
		t.Error("readNewc accepts an archive without a trailer")
	}
}

func TestWriteErrors(t *testing.T) {
	open := mapOpen(map[string]string{"x": "x"})
	for _, tc := range []struct {
		specs []string
		want  string
	}{
		{[]string{"dir:/a", "dir:/a"}, "duplicate path"},
		{[]string{"dir:/a", "symlink:/a=b"}, "duplicate path"},
		{[]string{"file:/a/b=x", "dir:/a"}, "already created"},
		{[]string{"file:/a=x", "file:/a/b=x"}, "not a directory"},
		{[]string{"symlink:/bin=usr/bin", "file:/bin/sh=x"}, "not a directory"},
		{[]string{"nod:/dev/null:c:1:3", "dir:/dev/null/x"}, "not a directory"},
		{[]string{"file:/a=missing"}, "does not exist"},
	} {
		var buf bytes.Buffer
		err := Write(&buf, mustParse(t, tc.specs...), open)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Write(%q): err = %v, want %q", tc.specs, err, tc.want)
		}
		if strings.Contains(tc.want, "not exist") {
			continue
		}
		if buf.Len() != 0 {
			t.Errorf("Write(%q) wrote %d bytes before failing a check", tc.specs, buf.Len())
		}
	}
	for _, e := range []Entry{
		{},
		{Kind: Dir},
		{Kind: Dir, Path: "/abs"},
		{Kind: Dir, Path: "a/../b"},
		{Kind: Dir, Path: "a", Mode: 010000},
		{Kind: File, Path: "a"},
		{Kind: Symlink, Path: "a"},
		{Kind: Node, Path: "a", Dev: 'p'},
		{Kind: Node, Path: "a", Dev: 'c', Major: 4096},
		{Kind: 9, Path: "a"},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, []Entry{e}, open); err == nil || buf.Len() != 0 {
			t.Errorf("Write(%+v): err = %v, %d bytes", e, err, buf.Len())
		}
	}
}

func TestParentsOnceAndFirst(t *testing.T) {
	entries := mustParse(t,
		"file:/a/b/c=x",
		"dir:/a/d",
		"symlink:/a/b/e=c",
		"dir:/f",
		"nod:/f/g/h:c:1:3",
		"dir:/a/d/i/j",
	)
	var buf bytes.Buffer
	if err := Write(&buf, entries, mapOpen(map[string]string{"x": "x"})); err != nil {
		t.Fatal(err)
	}
	got, err := readNewc(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	seen := map[string]bool{}
	for _, g := range got {
		names = append(names, g.Name)
		if seen[g.Name] {
			t.Errorf("%q appears twice", g.Name)
		}
		if i := strings.LastIndexByte(g.Name, '/'); i >= 0 && !seen[g.Name[:i]] {
			t.Errorf("%q appears before its parent", g.Name)
		}
		seen[g.Name] = true
	}
	want := "a a/b a/b/c a/d a/b/e f f/g f/g/h a/d/i a/d/i/j"
	if s := strings.Join(names, " "); s != want {
		t.Errorf("order %q, want %q", s, want)
	}
}

func TestResolveModes(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "exe")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(exe, 0751); err != nil {
		t.Fatal(err)
	}
	entries := mustParse(t, "file:/a="+exe, "file:/b="+exe+":0600", "dir:/c")
	if err := ResolveModes(entries, os.Stat); err != nil {
		t.Fatal(err)
	}
	if e := entries[0]; e.Mode != 0751 || !e.ModeSet {
		t.Errorf("host mode: %+v", e)
	}
	if e := entries[1]; e.Mode != 0600 {
		t.Errorf("explicit mode: %+v", e)
	}
	for _, src := range []string{filepath.Join(dir, "missing"), dir} {
		err := ResolveModes(mustParse(t, "file:/a="+src), os.Stat)
		if err == nil {
			t.Errorf("ResolveModes(%q) succeeded", src)
		}
	}
}

func TestDeterministic(t *testing.T) {
	specs := []string{"dir:/proc", "file:/init=i:0755", "file:/bin/x=x", "symlink:/bin/sh=x", "nod:/dev/null:c:1:3:0666"}
	files := map[string]string{"i": "init!", "x": strings.Repeat("payload", 100)}
	var outs [2][]byte
	var zouts [2][]byte
	for i := range outs {
		var b, z bytes.Buffer
		if err := Write(&b, mustParse(t, specs...), mapOpen(files)); err != nil {
			t.Fatal(err)
		}
		if err := Gzip(&z, mustParse(t, specs...), mapOpen(files)); err != nil {
			t.Fatal(err)
		}
		outs[i], zouts[i] = b.Bytes(), z.Bytes()
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("two Writes differ")
	}
	if !bytes.Equal(zouts[0], zouts[1]) {
		t.Error("two Gzips differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(zouts[0]))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || zr.Comment != "" || !zr.ModTime.IsZero() || zr.Extra != nil {
		t.Errorf("gzip header %+v", zr.Header)
	}
	if flg, mtime := zouts[0][3], zouts[0][4:8]; flg != 0 || !bytes.Equal(mtime, []byte{0, 0, 0, 0}) {
		t.Errorf("gzip FLG %#x MTIME % x", flg, mtime)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, outs[0]) {
		t.Error("Gzip does not wrap Write's output")
	}
}

// runCmd runs the command and returns its status, stdout and stderr.
func runCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	status := run(args, &stdout, &stderr)
	return status, stdout.String(), stderr.String()
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	initFile := filepath.Join(dir, "init.bin")
	tool := filepath.Join(dir, "tool")
	if err := os.WriteFile(initFile, []byte("INIT"), 0600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tool, []byte("TOOL"), 0600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tool, 0710); err != nil {
		t.Fatal(err)
	}
	args := func(out string) []string {
		return []string{"-o", out, "-init", initFile, "dir:/proc", "file:/usr/bin/tool=" + tool, "nod:/dev/console:c:5:1"}
	}
	out1, out2 := filepath.Join(dir, "a.cpio.gz"), filepath.Join(dir, "b.cpio.gz")
	for _, out := range []string{out1, out2} {
		if status, _, stderr := runCmd(args(out)...); status != 0 {
			t.Fatalf("status %d: %s", status, stderr)
		}
	}
	b1, err := os.ReadFile(out1)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := os.ReadFile(out2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Error("two runs differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(b1))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readNewc(plain)
	if err != nil {
		t.Fatal(err)
	}
	var desc []string
	for _, g := range got {
		desc = append(desc, fmt.Sprintf("%s:%o:%s", g.Name, g.Mode, g.Data))
	}
	want := "init:100755:INIT proc:40755: usr:40755: usr/bin:40755: usr/bin/tool:100710:TOOL dev:40755: dev/console:20600:"
	if s := strings.Join(desc, " "); s != want {
		t.Errorf("archive\n%s\nwant\n%s", s, want)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 4 {
		t.Errorf("%d files in the output directory, want 4 (temporary file left?)", len(ents))
	}

	if status, stdout, _ := runCmd("-h"); status != 0 || !strings.Contains(stdout, "usage") {
		t.Errorf("-h: status %d, stdout %q", status, stdout)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host")
	if err := os.WriteFile(host, []byte("x"), 0644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.cpio.gz")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dir:/a"}, "no -o"},
		{[]string{"-o", out}, "nothing to archive"},
		{[]string{"-bogus", "-o", out, "dir:/a"}, "not defined"},
		{[]string{"-o", out, "dir:/a", "-init", host}, "flags must come before"},
		{[]string{"-o", out, "fifo:/a"}, "unknown kind"},
		{[]string{"-o", out, "dir:a"}, "relative"},
		{[]string{"-o", out, "dir:/a/../b"}, `".."`},
		{[]string{"-o", out, "dir:/a", "dir:/a"}, "duplicate"},
		{[]string{"-o", out, "-init", host, "file:/init=" + host}, "duplicate"},
		{[]string{"-o", out, "dir:/" + strings.Repeat("ab/", 1400)}, "longer than 4095"},
		{[]string{"-o", out, "dir:/a", "file:/b=" + filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"-o", out, "-init", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"-o", out, "file:/b=" + dir}, "not a regular file"},
		{[]string{"-o", out, "dir:/a:999"}, "MODE"},
		{[]string{"-o", out, "nod:/dev/x:c:x:1"}, "MAJOR"},
		{[]string{"-o", out, "symlink:/a\nb=c", "dir:/a\nb"}, "duplicate"},
	} {
		status, stdout, stderr := runCmd(tc.args...)
		if status != 2 {
			t.Errorf("%q: status %d, want 2", tc.args, status)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q", tc.args, stdout)
		}
		if !strings.HasPrefix(stderr, "mkinitramfs: ") || !strings.HasSuffix(stderr, "\n") ||
			strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: stderr %q, want one line containing %q", tc.args, stderr, tc.want)
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%q: output file left behind (%v)", tc.args, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("%q: %d files in the output directory, want 1", tc.args, len(ents))
		}
	}

	// An output that cannot be written is status 1 and leaves nothing.
	bad := filepath.Join(dir, "no-such-dir", "out.cpio.gz")
	if status, _, stderr := runCmd("-o", bad, "dir:/a"); status != 1 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("unwritable output: status %d, stderr %q", status, stderr)
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{
		"dir:/proc",
		"dir:/tmp:1777",
		"file:/init=init:0755",
		"file:/x=a:b:0600",
		"symlink:/bin/sh=busybox",
		"nod:/dev/console:c:5:1",
		"nod:/dev/sda:b:8:0:0660",
		"dir:/a/../b",
		"nod:/dev/x:c:4096:0",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEntry(s)
		if err != nil {
			if e != (Entry{}) {
				t.Fatalf("entry %+v returned with error %v", e, err)
			}
			if strings.ContainsAny(err.Error(), "\n\x00") {
				t.Fatalf("error %q is not one line", err)
			}
			return
		}
		if e.Path == "" || e.Path[0] == '/' || len(e.Path)+1 > MaxPath || e.Mode > MaxPerm {
			t.Fatalf("bad entry %+v", e)
		}
		for _, c := range strings.Split(e.Path, "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("bad component %q in %+v", c, e)
			}
		}
		back, err := ParseEntry(e.String())
		if err != nil || back != e {
			t.Fatalf("String %q of %+v parses to %+v, %v", e.String(), e, back, err)
		}
		var buf bytes.Buffer
		if err := Write(&buf, []Entry{e}, func(string) ([]byte, error) { return []byte("data"), nil }); err != nil {
			t.Fatalf("Write(%+v): %v", e, err)
		}
		got, err := readNewc(buf.Bytes())
		if err != nil {
			t.Fatalf("Write(%+v): %v", e, err)
		}
		if n := strings.Count(e.Path, "/") + 1; len(got) != n || got[n-1].Name != e.Path {
			t.Fatalf("Write(%+v): %d entries, last %q", e, len(got), got[len(got)-1].Name)
		}
	})
}
