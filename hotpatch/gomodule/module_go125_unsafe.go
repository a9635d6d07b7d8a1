// hotpatch/gomodule: make the Go runtime know live-patch code.
// SPDX-License-Identifier: BSD-3-Clause

//go:build go1.25 && !go1.26

package gomodule

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/tamavisor/tamavisor/hotpatch/gofunc"
)

// moduledata mirrors runtime.moduledata of Go 1.25 (runtime/symtab.go),
// field for field. Only the fields up to gofunc, hasmain, bad and next
// are given values; the others stay zero, as for a module with no data,
// no types and no init tasks. sys.NotInHeap, the runtime's first field,
// has size zero.
type moduledata struct {
	pcHeader     unsafe.Pointer
	funcnametab  []byte
	cutab        []uint32
	filetab      []byte
	pctab        []byte
	pclntable    []byte
	ftab         []gofunc.Functab // runtime.functab: {entryoff, funcoff uint32}
	findfunctab  uintptr
	minpc, maxpc uintptr

	text, etext           uintptr
	noptrdata, enoptrdata uintptr
	data, edata           uintptr
	bss, ebss             uintptr
	noptrbss, enoptrbss   uintptr
	covctrs, ecovctrs     uintptr
	end, gcdata, gcbss    uintptr
	types, etypes         uintptr
	rodata                uintptr
	gofunc                uintptr

	textsectmap []textsect
	typelinks   []int32
	itablinks   []unsafe.Pointer

	ptab []ptabEntry

	pluginpath string
	pkghashes  []modulehash

	inittasks []unsafe.Pointer

	modulename   string
	modulehashes []modulehash

	hasmain uint8
	bad     bool

	gcdatamask, gcbssmask bitvector

	typemap map[int32]unsafe.Pointer

	next *moduledata
}

type textsect struct{ vaddr, end, baseaddr uintptr }
type ptabEntry struct{ name, typ int32 }
type modulehash struct {
	modulename, linktimehash string
	runtimehash              *string
}
type bitvector struct {
	n        int32
	bytedata *uint8
}

// pcHeader layout (runtime/symtab.go pcHeader).
const (
	pcHeaderMagic     = 0xfffffff1
	pcHdrPtrSize      = 7
	pcHdrNFunc        = 8
	pcHdrTextStart    = 24
	pcHeaderMinLength = 72
)

// lastmoduledatap is the tail of the runtime's module list; the runtime
// marks it for linkname use (runtime/symtab.go).
//
//go:linkname lastmoduledatap runtime.lastmoduledatap
var lastmoduledatap *moduledata

var (
	mu sync.Mutex
	// first is the program's own module, checked once.
	first   *moduledata
	checked error
	// modules keeps every registered record and its tables alive: the
	// runtime's list is not seen by the garbage collector.
	modules []*registered
	zero    [8]byte // gcdata and gcbss of a module without data
)

type registered struct {
	md *moduledata
	t  *gofunc.Tables
}

// checkLayout verifies the mirror against the program's first module
// before anything is written to the runtime's list.
func checkLayout() error {
	md := lastmoduledatap
	if md == nil {
		return fmt.Errorf("%w: no module list", ErrRuntime)
	}
	pc, _, _, _ := runtime.Caller(0)
	hdr := unsafe.Slice((*byte)(md.pcHeader), pcHeaderMinLength)
	le := binary.LittleEndian
	switch {
	case md.pcHeader == nil:
		return fmt.Errorf("%w: first module has no pcHeader", ErrRuntime)
	case le.Uint32(hdr) != pcHeaderMagic || hdr[pcHdrPtrSize] != 8:
		return fmt.Errorf("%w: pcHeader magic %#x, pointer size %d", ErrRuntime, le.Uint32(hdr), hdr[pcHdrPtrSize])
	case uintptr(le.Uint64(hdr[pcHdrTextStart:])) != md.text:
		return fmt.Errorf("%w: pcHeader textStart %#x, module text %#x", ErrRuntime, le.Uint64(hdr[pcHdrTextStart:]), md.text)
	case uint64(len(md.ftab)) != le.Uint64(hdr[pcHdrNFunc:])+1:
		return fmt.Errorf("%w: %d ftab entries for %d functions", ErrRuntime, len(md.ftab), le.Uint64(hdr[pcHdrNFunc:]))
	case md.minpc > uintptr(pc) || uintptr(pc) >= md.maxpc || md.text > md.minpc || md.etext < md.maxpc:
		return fmt.Errorf("%w: pc %#x outside the first module [%#x, %#x)", ErrRuntime, pc, md.minpc, md.maxpc)
	case md.findfunctab == 0 || md.next != nil || md.bad || md.hasmain != 1:
		return fmt.Errorf("%w: first module findfunctab %#x next %p bad %v hasmain %d", ErrRuntime, md.findfunctab, md.next, md.bad, md.hasmain)
	}
	first = md
	return nil
}

// Register makes the runtime know the code at [text, text+size), laid
// out as t describes (gofunc.Build for the same text), under the module
// name "hotpatch:"+name. The code must already be in place: from now on
// the runtime may look it up. It refuses tables that do not cover size
// bytes, overlapping modules, and a runtime whose module record does not
// match the mirror.
func Register(name string, t *gofunc.Tables, text, size uint64) error {
	mu.Lock()
	defer mu.Unlock()
	if first == nil && checked == nil {
		checked = checkLayout()
	}
	if checked != nil {
		return checked
	}
	switch {
	case t == nil || size == 0 || text+size < text:
		return fmt.Errorf("%w: empty text", ErrTables)
	case len(t.Ftab) < 2 || uint64(t.Ftab[len(t.Ftab)-1].Entryoff) != size:
		return fmt.Errorf("%w: ftab does not end at the text size %#x", ErrTables, size)
	case len(t.Findfunctab) < int((size+4095)/4096)*20:
		return fmt.Errorf("%w: findfunctab of %d bytes for %#x bytes of text", ErrTables, len(t.Findfunctab), size)
	case len(t.PCHeader) < pcHeaderMinLength || len(t.Gofunc) == 0 || len(t.Pctab) == 0:
		return fmt.Errorf("%w: pcHeader %d bytes, gofunc %d bytes, pctab %d bytes", ErrTables, len(t.PCHeader), len(t.Gofunc), len(t.Pctab))
	}
	for md := first; md != nil; md = md.next {
		if uint64(md.minpc) < text+size && text < uint64(md.maxpc) {
			return fmt.Errorf("%w: text [%#x, %#x) overlaps module %q [%#x, %#x)", ErrTables, text, text+size, md.modulename, md.minpc, md.maxpc)
		}
	}
	binary.LittleEndian.PutUint64(t.PCHeader[pcHdrTextStart:], text)
	gofn := uintptr(unsafe.Pointer(unsafe.SliceData(t.Gofunc)))
	md := &moduledata{
		pcHeader:    unsafe.Pointer(unsafe.SliceData(t.PCHeader)),
		funcnametab: t.Funcnametab,
		cutab:       t.Cutab,
		filetab:     t.Filetab,
		pctab:       t.Pctab,
		pclntable:   t.Pclntable,
		ftab:        t.Ftab,
		findfunctab: uintptr(unsafe.Pointer(unsafe.SliceData(t.Findfunctab))),
		minpc:       uintptr(text),
		maxpc:       uintptr(text + size),
		text:        uintptr(text),
		etext:       uintptr(text + size),
		// Stack-object records find their module by gofunc <= p < end
		// and their GC masks at rodata + offset (runtime/stack.go).
		gofunc:     gofn,
		rodata:     gofn,
		end:        gofn + uintptr(len(t.Gofunc)),
		gcdata:     uintptr(unsafe.Pointer(&zero[0])),
		gcbss:      uintptr(unsafe.Pointer(&zero[0])),
		modulename: "hotpatch:" + name,
	}
	modules = append(modules, &registered{md: md, t: t})
	// Publish: the new record is complete before the list points at it.
	// Only the boot CPU runs Go code, so the runtime's readers are on
	// this CPU and see either the old list or the new one.
	tail := lastmoduledatap
	tail.next = md
	lastmoduledatap = md
	return nil
}

// Modules is the number of registered payload modules.
func Modules() int {
	mu.Lock()
	defer mu.Unlock()
	return len(modules)
}
