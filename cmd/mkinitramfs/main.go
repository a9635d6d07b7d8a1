// cmd/mkinitramfs: host tool that builds a gzip-compressed newc initramfs.
// SPDX-License-Identifier: BSD-3-Clause

// Command mkinitramfs builds a Linux initramfs on the build host: a
// gzip-compressed cpio archive in the "newc" format the kernel unpacks
// at boot (see the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst). It uses
// the standard library only.
//
// Usage:
//
//	mkinitramfs -o OUT.cpio.gz [-init FILE] ENTRY...
//
// Flags come before the entries. Each ENTRY is one of:
//
//	dir:PATH[:MODE]                   directory (MODE default 0755)
//	file:PATH=HOSTFILE[:MODE]         copy of a host file (MODE default:
//	                                  the host file's permission bits)
//	symlink:PATH=TARGET               symbolic link (mode 0777)
//	nod:PATH:c|b:MAJOR:MINOR[:MODE]   character or block device node
//	                                  (MODE default 0600)
//
// -init FILE is shorthand for file:/init=FILE:0755 and comes first.
//
// PATH is absolute ("/bin/sh"), at most 4095 bytes, with no empty, "."
// or ".." component, no ':' and no NUL; it is stored without the leading
// '/'. In file: and symlink: entries PATH ends at the first '='. MODE is
// octal permission bits (at most 07777); in file: entries it is whatever
// follows the last ':', so a HOSTFILE containing ':' needs an explicit
// MODE. MAJOR (< 4096) and MINOR (< 1048576) are decimal.
//
// Entries are written in the order given. A missing parent directory of
// an entry is created (mode 0755) just before the entry; a dir: entry for
// a directory that an earlier entry already created that way is refused
// (list the directory first), as are duplicate paths and parents that
// are not directories.
//
// The output is reproducible: mtime 0, uid and gid 0, inode numbers
// counting from 1 in output order, nlink 2 for directories and 1
// otherwise, and a gzip header with no name and no modification time.
// The archive is built in memory and renamed into place, so a failed run
// leaves no output file behind.
//
// Exit status: 0 success; 2 a usage error, a bad entry or an unreadable
// host file (one line on stderr); 1 a failure writing OUT.
package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Kind is the type of an archive entry.
type Kind uint8

// Entry kinds.
const (
	Dir Kind = iota + 1
	File
	Symlink
	Node
)

func (k Kind) String() string {
	switch k {
	case Dir:
		return "dir"
	case File:
		return "file"
	case Symlink:
		return "symlink"
	case Node:
		return "nod"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Limits of the format and of the kernel's unpacker.
const (
	MaxPath   = 4095 // bytes in PATH, leading '/' included
	MaxName   = 255  // bytes in one path component
	MaxTarget = 4095 // bytes in a symlink target
	MaxMajor  = 1<<12 - 1
	MaxMinor  = 1<<20 - 1
	MaxPerm   = 07777
	MaxSize   = 1<<32 - 1 // bytes in a file (8 hex digits)
)

// Default permission bits.
const (
	DirMode     = 0755
	NodeMode    = 0600
	SymlinkMode = 0777
	InitMode    = 0755
)

// File type bits of the cpio mode field (as in <sys/stat.h>).
const (
	sIFDIR = 0040000
	sIFCHR = 0020000
	sIFBLK = 0060000
	sIFREG = 0100000
	sIFLNK = 0120000
)

// Entry is one archive member as given on the command line.
type Entry struct {
	Kind Kind
	// Path is the archive path without the leading '/', e.g. "bin/sh".
	Path string
	// Mode holds the permission bits (at most 07777). For a File it is
	// meaningful only if ModeSet; otherwise ResolveModes takes it from
	// the host file (and Write uses 0644 if nobody did).
	Mode    uint32
	ModeSet bool
	// Source is the host file of a File entry.
	Source string
	// Target is the target of a Symlink entry.
	Target string
	// Dev is 'c' or 'b' for a Node entry; Major and Minor its numbers.
	Dev          byte
	Major, Minor uint32
}

// String renders e in the command line syntax that ParseEntry accepts.
func (e Entry) String() string {
	p := "/" + e.Path
	switch e.Kind {
	case Dir:
		return fmt.Sprintf("dir:%s:%04o", p, e.Mode)
	case File:
		if e.ModeSet {
			return fmt.Sprintf("file:%s=%s:%04o", p, e.Source, e.Mode)
		}
		return fmt.Sprintf("file:%s=%s", p, e.Source)
	case Symlink:
		return fmt.Sprintf("symlink:%s=%s", p, e.Target)
	case Node:
		return fmt.Sprintf("nod:%s:%c:%d:%d:%04o", p, e.Dev, e.Major, e.Minor, e.Mode)
	}
	return fmt.Sprintf("%v:%s", e.Kind, p)
}

// quote quotes s for an error message, shortening it if it is long.
func quote(s string) string {
	const limit = 96
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

// qpath quotes an archive path for an error message, with its '/'.
func qpath(p string) string { return quote("/" + p) }

// ParseEntry parses one ENTRY argument (see the package documentation).
// It does not look at the host file system.
func ParseEntry(s string) (Entry, error) {
	e, err := parseEntry(s)
	if err != nil {
		return Entry{}, fmt.Errorf("entry %s: %w", quote(s), err)
	}
	return e, nil
}

func parseEntry(s string) (Entry, error) {
	if strings.HasPrefix(s, "-") {
		return Entry{}, errors.New("not an entry (flags must come before the entries)")
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Entry{}, errors.New("want KIND:..., KIND one of dir, file, symlink, nod")
	}
	var e Entry
	var path, mode string
	hasMode := false
	switch kind {
	case "dir":
		e.Kind, e.Mode = Dir, DirMode
		path, mode, hasMode = strings.Cut(rest, ":")
		if strings.Contains(mode, ":") {
			return Entry{}, errors.New("too many fields; want dir:PATH[:MODE]")
		}
	case "file":
		e.Kind = File
		var src string
		if path, src, ok = strings.Cut(rest, "="); !ok {
			return Entry{}, errors.New("no '='; want file:PATH=HOSTFILE[:MODE]")
		}
		if i := strings.LastIndexByte(src, ':'); i >= 0 {
			src, mode, hasMode = src[:i], src[i+1:], true
		}
		if src == "" {
			return Entry{}, errors.New("empty HOSTFILE; want file:PATH=HOSTFILE[:MODE]")
		}
		e.Source, e.ModeSet = src, hasMode
	case "symlink":
		e.Kind, e.Mode = Symlink, SymlinkMode
		if path, e.Target, ok = strings.Cut(rest, "="); !ok {
			return Entry{}, errors.New("no '='; want symlink:PATH=TARGET")
		}
	case "nod":
		e.Kind, e.Mode = Node, NodeMode
		f := strings.Split(rest, ":")
		if len(f) != 4 && len(f) != 5 {
			return Entry{}, errors.New("want nod:PATH:c|b:MAJOR:MINOR[:MODE]")
		}
		path = f[0]
		if f[1] != "c" && f[1] != "b" {
			return Entry{}, fmt.Errorf("device type %s is not c or b", quote(f[1]))
		}
		e.Dev = f[1][0]
		var err error
		if e.Major, err = parseNumber("MAJOR", f[2], MaxMajor); err != nil {
			return Entry{}, err
		}
		if e.Minor, err = parseNumber("MINOR", f[3], MaxMinor); err != nil {
			return Entry{}, err
		}
		if len(f) == 5 {
			mode, hasMode = f[4], true
		}
	default:
		return Entry{}, fmt.Errorf("unknown kind %s; want dir, file, symlink or nod", quote(kind))
	}
	if hasMode {
		m, err := parseMode(mode)
		if err != nil {
			return Entry{}, err
		}
		e.Mode = m
	}
	if path == "" {
		return Entry{}, errors.New("empty PATH")
	}
	if path[0] != '/' {
		return Entry{}, fmt.Errorf("PATH %s is relative; it must start with '/'", quote(path))
	}
	e.Path = path[1:]
	if err := e.check(); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// parseMode parses octal permission bits.
func parseMode(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New("empty MODE")
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > MaxPerm {
		return 0, fmt.Errorf("MODE %s is not octal permission bits (0 to 07777)", quote(s))
	}
	return uint32(m), nil
}

// parseNumber parses a decimal number no larger than max.
func parseNumber(what, s string, limit uint64) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > limit {
		return 0, fmt.Errorf("%s %s is not a decimal number from 0 to %d", what, quote(s), limit)
	}
	return uint32(n), nil
}

// checkPath checks an archive path, stored without the leading '/'.
func checkPath(p string) error {
	shown := quote("/" + p)
	switch {
	case p == "":
		return errors.New("PATH \"/\" is the root, which always exists")
	case len(p)+1 > MaxPath:
		return fmt.Errorf("PATH %s is %d bytes, longer than %d", shown, len(p)+1, MaxPath)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("PATH %s contains NUL", shown)
	case strings.IndexByte(p, ':') >= 0:
		return fmt.Errorf("PATH %s contains ':'", shown)
	case p[0] == '/':
		return fmt.Errorf("PATH %s has an empty component", shown)
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "":
			return fmt.Errorf("PATH %s has an empty component (\"//\" or a trailing '/')", shown)
		case c == "." || c == "..":
			return fmt.Errorf("PATH %s has a %s component", shown, quote(c))
		case len(c) > MaxName:
			return fmt.Errorf("PATH %s has a component longer than %d bytes", shown, MaxName)
		}
	}
	return nil
}

// check validates e, whether parsed or built by hand.
func (e Entry) check() error {
	if err := checkPath(e.Path); err != nil {
		return err
	}
	if e.Mode > MaxPerm {
		return fmt.Errorf("mode %#o has bits outside 07777", e.Mode)
	}
	switch e.Kind {
	case Dir:
	case File:
		if e.Source == "" {
			return errors.New("empty HOSTFILE")
		}
		if strings.IndexByte(e.Source, 0) >= 0 {
			return fmt.Errorf("HOSTFILE %s contains NUL", quote(e.Source))
		}
	case Symlink:
		switch {
		case e.Target == "":
			return errors.New("empty symlink TARGET")
		case len(e.Target) > MaxTarget:
			return fmt.Errorf("symlink TARGET is %d bytes, longer than %d", len(e.Target), MaxTarget)
		case strings.IndexByte(e.Target, 0) >= 0:
			return fmt.Errorf("symlink TARGET %s contains NUL", quote(e.Target))
		}
	case Node:
		if e.Dev != 'c' && e.Dev != 'b' {
			return fmt.Errorf("device type %q is not c or b", e.Dev)
		}
		if e.Major > MaxMajor || e.Minor > MaxMinor {
			return fmt.Errorf("device number %d:%d out of range", e.Major, e.Minor)
		}
	default:
		return fmt.Errorf("unknown entry kind %v", e.Kind)
	}
	return nil
}

// ResolveModes sets the mode of every File entry that has none to the
// permission bits of its host file, using stat (os.Stat on the host).
// It also checks that every host file exists and is a regular file.
func ResolveModes(entries []Entry, stat func(string) (fs.FileInfo, error)) error {
	for i := range entries {
		e := &entries[i]
		if e.Kind != File {
			continue
		}
		fi, err := stat(e.Source)
		if err != nil {
			return fmt.Errorf("%s: host file %s: %v", qpath(e.Path), quote(e.Source), bareError(err))
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: host file %s is not a regular file", qpath(e.Path), quote(e.Source))
		}
		if !e.ModeSet {
			e.Mode, e.ModeSet = uint32(fi.Mode().Perm()), true
		}
	}
	return nil
}

// bareError drops the path from a *fs.PathError (the caller names the
// file itself, quoted).
func bareError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// expand checks entries and returns them in output order, with the
// missing parent directories inserted before the first entry inside
// them.
func expand(entries []Entry) ([]Entry, error) {
	out := make([]Entry, 0, len(entries))
	kinds := make(map[string]Kind) // path -> kind of everything emitted
	auto := make(map[string]bool)  // paths of auto-created directories
	for _, e := range entries {
		if err := e.check(); err != nil {
			return nil, fmt.Errorf("entry %s: %w", quote(e.String()), err)
		}
		for i := 0; i < len(e.Path); i++ {
			if e.Path[i] != '/' {
				continue
			}
			parent := e.Path[:i]
			if k, ok := kinds[parent]; ok {
				if k != Dir {
					return nil, fmt.Errorf("%s: parent %s is a %v, not a directory", qpath(e.Path), qpath(parent), k)
				}
				continue
			}
			kinds[parent], auto[parent] = Dir, true
			out = append(out, Entry{Kind: Dir, Path: parent, Mode: DirMode, ModeSet: true})
		}
		if _, ok := kinds[e.Path]; ok {
			if auto[e.Path] {
				return nil, fmt.Errorf("%s: an earlier entry inside it already created it; list it before them", qpath(e.Path))
			}
			return nil, fmt.Errorf("%s: duplicate path", qpath(e.Path))
		}
		kinds[e.Path] = e.Kind
		out = append(out, e)
	}
	return out, nil
}

// header writes one newc header and the padded name.
func header(w io.Writer, ino, mode, nlink, size, rmajor, rminor uint32, name string) error {
	namesize := len(name) + 1
	pad := (4 - (110+namesize)%4) % 4
	_, err := fmt.Fprintf(w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\x00%s",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, namesize, 0,
		name, strings.Repeat("\x00", pad))
	return err
}

// padding returns the zero bytes that align n bytes of data to 4.
func padding(n int) []byte {
	return make([]byte, (4-n%4)%4)
}

// Trailer is the name of the entry that ends a newc archive.
const Trailer = "TRAILER!!!"

// Write writes entries as an uncompressed newc cpio archive to w,
// creating missing parent directories and ending with the trailer.
// open returns the contents of a File entry's host file. Everything is
// checked before the first byte is written, except the host files,
// which are read as they are reached.
func Write(w io.Writer, entries []Entry, open func(string) ([]byte, error)) error {
	all, err := expand(entries)
	if err != nil {
		return err
	}
	for i, e := range all {
		ino := uint32(i + 1)
		var err error
		switch e.Kind {
		case Dir:
			err = header(w, ino, sIFDIR|e.Mode, 2, 0, 0, 0, e.Path)
		case Node:
			typ := uint32(sIFCHR)
			if e.Dev == 'b' {
				typ = sIFBLK
			}
			err = header(w, ino, typ|e.Mode, 1, 0, e.Major, e.Minor, e.Path)
		case Symlink:
			if err = header(w, ino, sIFLNK|SymlinkMode, 1, uint32(len(e.Target)), 0, 0, e.Path); err == nil {
				_, err = io.WriteString(w, e.Target+string(padding(len(e.Target))))
			}
		case File:
			data, rerr := open(e.Source)
			if rerr != nil {
				return fmt.Errorf("%s: host file %s: %v", qpath(e.Path), quote(e.Source), bareError(rerr))
			}
			if uint64(len(data)) > MaxSize {
				return fmt.Errorf("%s: host file %s is larger than %d bytes", qpath(e.Path), quote(e.Source), uint64(MaxSize))
			}
			mode := e.Mode
			if !e.ModeSet {
				mode = 0644
			}
			if err = header(w, ino, sIFREG|mode, 1, uint32(len(data)), 0, 0, e.Path); err == nil {
				if _, err = w.Write(data); err == nil {
					_, err = w.Write(padding(len(data)))
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return header(w, 0, 0, 1, 0, 0, 0, Trailer)
}

// Gzip writes entries as a gzip-compressed newc archive to w, with a
// gzip header that has no name and no modification time.
func Gzip(w io.Writer, entries []Entry, open func(string) ([]byte, error)) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := Write(zw, entries, open); err != nil {
		return err
	}
	return zw.Close()
}

const usage = "usage: mkinitramfs -o OUT.cpio.gz [-init FILE] ENTRY...\n" +
	"  ENTRY: dir:PATH[:MODE] | file:PATH=HOSTFILE[:MODE] | symlink:PATH=TARGET |\n" +
	"         nod:PATH:c|b:MAJOR:MINOR[:MODE]\n"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fail := func(status int, err error) int {
		msg := strings.ReplaceAll(err.Error(), "\n", `\n`)
		fmt.Fprintf(stderr, "mkinitramfs: %s\n", msg)
		return status
	}
	fl := flag.NewFlagSet("mkinitramfs", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	out := fl.String("o", "", "output file (gzip-compressed newc cpio)")
	initFile := fl.String("init", "", "host file to install as /init, mode 0755")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		return fail(2, fmt.Errorf("%v (usage: mkinitramfs -o OUT.cpio.gz [-init FILE] ENTRY...)", err))
	}
	if *out == "" {
		return fail(2, errors.New("no -o OUT given (usage: mkinitramfs -o OUT.cpio.gz [-init FILE] ENTRY...)"))
	}
	var entries []Entry
	if *initFile != "" {
		entries = append(entries, Entry{Kind: File, Path: "init", Source: *initFile, Mode: InitMode, ModeSet: true})
	}
	for _, a := range fl.Args() {
		e, err := ParseEntry(a)
		if err != nil {
			return fail(2, err)
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return fail(2, errors.New("nothing to archive: give -init FILE or at least one ENTRY"))
	}
	if _, err := expand(entries); err != nil {
		return fail(2, err)
	}
	if err := ResolveModes(entries, os.Stat); err != nil {
		return fail(2, err)
	}
	var buf bytes.Buffer
	if err := Gzip(&buf, entries, os.ReadFile); err != nil {
		return fail(2, err)
	}
	if err := writeFile(*out, buf.Bytes()); err != nil {
		return fail(1, err)
	}
	return 0
}

// writeFile writes data to a temporary file next to name and renames it
// into place, so name is either left as it was or complete.
func writeFile(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".mkinitramfs-*")
	if err != nil {
		return fmt.Errorf("output %s: %v", quote(name), bareError(err))
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("output %s: %v", quote(name), bareError(err))
	}
	return nil
}
