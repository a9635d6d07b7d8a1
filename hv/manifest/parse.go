// hv/manifest: the partition manifest that says which VMs tamavisor runs.
// SPDX-License-Identifier: BSD-3-Clause

package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tamavisor/tamavisor/hv"
)

// The JSON shapes as they are written. Numbers stay raw so that their
// errors can name the field; Parse converts them into the Manifest types.
// Encode uses the same shapes, so the two stay in step.
type rawManifest struct {
	VMs []rawVM `json:"vms"`
}

type rawVM struct {
	Name      string          `json:"name"`
	ID        json.RawMessage `json:"id"`
	VCPUs     []rawVCPU       `json:"vcpus"`
	Memory    *rawMemory      `json:"memory"`
	Kernel    string          `json:"kernel"`
	Initrd    string          `json:"initrd"`
	Cmdline   string          `json:"cmdline"`
	Console   *rawConsole     `json:"console,omitempty"`
	Devices   []rawDevice     `json:"devices,omitempty"`
	Autostart bool            `json:"autostart"`
}

type rawVCPU struct {
	CPU json.RawMessage `json:"cpu"`
}

type rawMemory struct {
	Base json.RawMessage `json:"base"`
	Size json.RawMessage `json:"size"`
}

type rawConsole struct {
	Base json.RawMessage `json:"base,omitempty"`
	Port json.RawMessage `json:"port,omitempty"`
	IRQ  json.RawMessage `json:"irq"`
}

type rawDevice struct {
	Name  string            `json:"name"`
	Base  json.RawMessage   `json:"base,omitempty"`
	Size  json.RawMessage   `json:"size,omitempty"`
	PA    json.RawMessage   `json:"pa,omitempty"`
	IRQs  []json.RawMessage `json:"irqs,omitempty"`
	Ports []rawPortRange    `json:"ports,omitempty"`
}

type rawPortRange struct {
	Base json.RawMessage `json:"base"`
	Size json.RawMessage `json:"size"`
}

// knownKeys lists the keys each object may hold, by schema path ("[]"
// stands for any array element). It must match the json tags above (a
// test checks). The key scan uses it to report unknown fields with their
// position; DisallowUnknownFields in the decoder stays as a backstop.
var knownKeys = map[string][]string{
	"":                        {"vms"},
	"vms[]":                   {"name", "id", "vcpus", "memory", "kernel", "initrd", "cmdline", "console", "devices", "autostart"},
	"vms[].vcpus[]":           {"cpu"},
	"vms[].memory":            {"base", "size"},
	"vms[].console":           {"base", "port", "irq"},
	"vms[].devices[]":         {"name", "base", "size", "pa", "irqs", "ports"},
	"vms[].devices[].ports[]": {"base", "size"},
}

// maxProblems bounds the problems Parse reports; the rest are counted.
const maxProblems = 32

// Parse reads a manifest and checks every field on its own (see the
// package comment). On any problem it returns a nil Manifest and all
// problems found, each a *FieldError, joined with errors.Join. data is
// untrusted: Parse never panics and refuses input over MaxSize bytes.
func Parse(data []byte) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, &FieldError{Msg: fmt.Sprintf("%d bytes, at most %d allowed", len(data), MaxSize), Kind: ErrTooLarge}
	}
	var p problems
	scanKeys(data, &p)
	if len(p.list) > 0 {
		return nil, p.err()
	}
	var raw rawManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		p.add(decodeError(data, err))
		return nil, p.err()
	}
	m := convert(&raw, &p)
	if len(p.list) > 0 {
		return nil, p.err()
	}
	return m, nil
}

// problems collects FieldErrors up to maxProblems.
type problems struct {
	list    []error
	dropped int
}

func (p *problems) add(e *FieldError) {
	if len(p.list) < maxProblems {
		p.list = append(p.list, e)
	} else {
		p.dropped++
	}
}

// full reports whether further problems would only be counted.
func (p *problems) full() bool { return len(p.list) >= maxProblems }

func (p *problems) err() error {
	list := p.list
	if p.dropped > 0 {
		list = append(list[:len(list):len(list)], &FieldError{
			Msg:  fmt.Sprintf("%d more problems not shown", p.dropped),
			Kind: p.list[len(p.list)-1].(*FieldError).Kind,
		})
	}
	return errors.Join(list...)
}

// position turns a byte offset into "line L col C" (both from 1).
func position(data []byte, off int64) string {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := len(before) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d col %d", line, col)
}

// tokenStart returns the offset of the token that the decoder read
// between offsets prev and off: the first byte that is not white space
// or a separator.
func tokenStart(data []byte, prev, off int64) int64 {
	for prev < off && prev < int64(len(data)) {
		switch data[prev] {
		case ' ', '\t', '\r', '\n', ',', ':':
			prev++
			continue
		}
		break
	}
	return prev
}

// scanFrame is one open object or array during scanKeys.
type scanFrame struct {
	obj    bool
	schema string          // schema path, e.g. "vms[].memory"
	path   string          // display path, e.g. "vms[0].memory"
	keys   map[string]bool // keys seen (objects)
	key    string          // the key whose value comes next (objects)
	inKey  bool            // next token is a key (objects)
	index  int             // next element index (arrays)
}

// childPaths returns the schema and display path of the next value in f.
func (f *scanFrame) childPaths() (string, string) {
	if f.obj {
		return joinPath(f.schema, f.key), joinPath(f.path, f.key)
	}
	return f.schema + "[]", fmt.Sprintf("%s[%d]", f.path, f.index)
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// scanKeys walks the JSON token stream. It reports syntax errors with
// their position, a top level that is not one object, data after it, and
// repeated or unknown keys (encoding/json silently keeps the last of
// repeated keys, which would hide a copy-and-paste mistake).
func scanKeys(data []byte, p *problems) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*scanFrame
	started := false // the top-level value has begun
	for !p.full() {
		prev := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			if !started {
				p.add(&FieldError{Msg: "empty input, want a JSON object", Kind: ErrSyntax})
			}
			return
		}
		if err != nil {
			p.add(decodeError(data, err))
			return
		}
		off := dec.InputOffset()
		pos := func() string { return position(data, tokenStart(data, prev, off)) }
		var top *scanFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top == nil && started {
			p.add(&FieldError{Msg: pos() + ": data after the manifest object", Kind: ErrSyntax})
			return
		}
		if top != nil && top.obj && top.inKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 {
					stack[len(stack)-1].valueDone()
				}
				continue
			}
			key, _ := tok.(string)
			top.key, top.inKey = key, false
			if top.keys[key] {
				p.add(&FieldError{Field: joinPath(top.path, key), Msg: pos() + ": key repeated", Kind: ErrDuplicateKey})
			}
			top.keys[key] = true
			if known, ok := knownKeys[top.schema]; ok && !contains(known, key) {
				p.add(&FieldError{Field: joinPath(top.path, key),
					Msg:  fmt.Sprintf("%s: unknown field (known: %s)", pos(), strings.Join(known, ", ")),
					Kind: ErrUnknownField})
			}
			continue
		}
		// tok is a value: a scalar, or an opening or closing delimiter.
		schema, path := "", ""
		if top != nil {
			schema, path = top.childPaths()
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if top == nil && tok != json.Delim('{') {
				p.add(&FieldError{Msg: pos() + ": the manifest must be a JSON object", Kind: ErrType})
				return
			}
			started = true
			f := &scanFrame{obj: tok == json.Delim('{'), schema: schema, path: path}
			if f.obj {
				f.keys, f.inKey = map[string]bool{}, true
			}
			stack = append(stack, f)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				stack[len(stack)-1].valueDone()
			}
		default:
			if top == nil {
				p.add(&FieldError{Msg: pos() + ": the manifest must be a JSON object", Kind: ErrType})
				return
			}
			top.valueDone()
		}
	}
}

// valueDone records that one value of f has been read.
func (f *scanFrame) valueDone() {
	if f.obj {
		f.inKey = true
	} else {
		f.index++
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// decodeError turns an encoding/json error into a FieldError.
func decodeError(data []byte, err error) *FieldError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &FieldError{Msg: position(data, syn.Offset) + ": " + syn.Error(), Kind: ErrSyntax}
	case errors.As(err, &typ) && typ.Type != nil:
		return &FieldError{Field: typ.Field,
			Msg:  fmt.Sprintf("%s: want %s, got %s", position(data, typ.Offset), jsonKind(typ.Type.Kind().String()), typ.Value),
			Kind: ErrType}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Msg: "unexpected end of input", Kind: ErrSyntax}
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return &FieldError{Msg: strings.TrimPrefix(err.Error(), "json: "), Kind: ErrUnknownField}
	}
	return &FieldError{Msg: err.Error(), Kind: ErrSyntax}
}

// jsonKind names a Go kind the way a manifest author thinks of it.
func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "ptr":
		return "an object"
	}
	return goKind
}

// checker converts one raw VM, recording problems under its label.
type checker struct {
	p     *problems
	label string
}

func (c *checker) fail(field string, kind error, format string, args ...any) {
	c.p.add(&FieldError{VM: c.label, Field: field, Msg: fmt.Sprintf(format, args...), Kind: kind})
}

// number reads a required number field; ok is false if it is missing or
// malformed (the problem is recorded).
func (c *checker) number(field string, raw json.RawMessage) (uint64, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		c.fail(field, ErrMissing, "missing")
		return 0, false
	}
	v, err := parseRawNumber(raw)
	if err != nil {
		c.fail(field, ErrNumber, "%v", strings.TrimPrefix(err.Error(), ErrNumber.Error()+": "))
		return 0, false
	}
	return v, true
}

// window checks a base/size pair: page alignment, minimum size, no
// wrap-around, below 1<<AddrBits.
func (c *checker) window(field string, base, size, min uint64) bool {
	ok := true
	if base%hv.PageSize != 0 {
		c.fail(field+".base", ErrAlign, "%#x is not a multiple of %#x", base, hv.PageSize)
		ok = false
	}
	if size%hv.PageSize != 0 {
		c.fail(field+".size", ErrAlign, "%#x is not a multiple of %#x", size, hv.PageSize)
		ok = false
	}
	if size < min {
		c.fail(field+".size", ErrRange, "%#x is smaller than the minimum %#x", size, min)
		ok = false
	}
	if end := base + size; end < base || end > 1<<AddrBits {
		c.fail(field, ErrRange, "base %#x + size %#x ends beyond the %d-bit address space", base, size, AddrBits)
		ok = false
	}
	return ok
}

func (c *checker) irq(field string, raw json.RawMessage) (uint32, bool) {
	v, ok := c.number(field, raw)
	if !ok {
		return 0, false
	}
	if v < SPIFirst || v > SPILast {
		c.fail(field, ErrIRQ, "%d is not an SPI INTID (%d..%d)", v, SPIFirst, SPILast)
		return 0, false
	}
	return uint32(v), true
}

// isaIRQ reads the interrupt of a port console: an ISA IRQ.
func (c *checker) isaIRQ(field string, raw json.RawMessage) (uint32, bool) {
	v, ok := c.number(field, raw)
	if !ok {
		return 0, false
	}
	if v > ISAIRQLast {
		c.fail(field, ErrIRQ, "%d is not an ISA IRQ (%d..%d) as a console port needs", v, ISAIRQFirst, ISAIRQLast)
		return 0, false
	}
	return uint32(v), true
}

// given reports whether an optional field is present (and not null).
func given(raw json.RawMessage) bool { return len(raw) != 0 && string(raw) != "null" }

// portRange checks one I/O port range: size at least 1, ending at or
// below PortSpace.
func (c *checker) portRange(field string, r *rawPortRange) (PortRange, bool) {
	base, ok1 := c.number(field+".base", r.Base)
	size, ok2 := c.number(field+".size", r.Size)
	if !ok1 || !ok2 {
		return PortRange{}, false
	}
	if size < 1 {
		c.fail(field+".size", ErrRange, "0 ports: a range needs at least 1")
		return PortRange{}, false
	}
	if base >= PortSpace || size > PortSpace-base {
		c.fail(field, ErrRange, "base %#x + size %#x ends beyond the I/O port space (%#x ports)", base, size, PortSpace)
		return PortRange{}, false
	}
	return PortRange{Base: uint16(base), Size: uint32(size)}, true
}

// validName reports whether s is 1..MaxNameLen characters of [A-Za-z0-9_-].
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (c *checker) name(field, s string) {
	switch {
	case s == "":
		c.fail(field, ErrMissing, "missing")
	case !validName(s):
		c.fail(field, ErrName, "%.40q: want 1..%d characters of A-Z a-z 0-9 _ -", s, MaxNameLen)
	}
}

// text checks a string of printable ASCII no longer than max.
func (c *checker) text(field, s string, max int) {
	if len(s) > max {
		c.fail(field, ErrString, "%d bytes, at most %d allowed", len(s), max)
		return
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			c.fail(field, ErrString, "byte %#02x at offset %d: only printable ASCII is allowed", s[i], i)
			return
		}
	}
}

// convert checks every field and builds the Manifest.
func convert(raw *rawManifest, p *problems) *Manifest {
	if raw.VMs == nil {
		p.add(&FieldError{Field: "vms", Msg: "missing", Kind: ErrMissing})
		return nil
	}
	if len(raw.VMs) > MaxVMs {
		p.add(&FieldError{Field: "vms", Msg: fmt.Sprintf("%d VMs, at most %d allowed", len(raw.VMs), MaxVMs), Kind: ErrCount})
		return nil
	}
	m := &Manifest{VMs: make([]*VM, 0, len(raw.VMs))}
	for i := range raw.VMs {
		m.VMs = append(m.VMs, convertVM(&raw.VMs[i], i, p))
	}
	return m
}

// Label returns how messages name vm: `vm "name"`.
func (vm *VM) Label() string { return fmt.Sprintf("vm %q", vm.Name) }

func convertVM(r *rawVM, i int, p *problems) *VM {
	c := &checker{p: p, label: fmt.Sprintf("vms[%d]", i)}
	vm := &VM{Name: r.Name, Kernel: r.Kernel, Initrd: r.Initrd, Cmdline: r.Cmdline, Autostart: r.Autostart}
	if validName(r.Name) {
		c.label = vm.Label()
	}
	c.name("name", r.Name)
	if id, ok := c.number("id", r.ID); ok {
		if id < 1 || id > 255 {
			c.fail("id", ErrRange, "%d is not in 1..255", id)
		}
		vm.ID = uint8(id)
	}

	switch n := len(r.VCPUs); {
	case n == 0:
		c.fail("vcpus", ErrCount, "at least one vCPU is needed")
	case n > MaxVCPUs:
		c.fail("vcpus", ErrCount, "%d vCPUs, at most %d allowed", n, MaxVCPUs)
	default:
		for j, v := range r.VCPUs {
			field := fmt.Sprintf("vcpus[%d].cpu", j)
			cpu, ok := c.number(field, v.CPU)
			if ok && cpu > MaxCPU {
				c.fail(field, ErrRange, "%d is above the highest CPU index %d", cpu, MaxCPU)
			}
			vm.VCPUs = append(vm.VCPUs, VCPU{CPU: int(min(cpu, MaxCPU+1))})
		}
	}

	if r.Memory == nil {
		c.fail("memory", ErrMissing, "missing")
	} else {
		base, ok1 := c.number("memory.base", r.Memory.Base)
		size, ok2 := c.number("memory.size", r.Memory.Size)
		if ok1 && ok2 {
			c.window("memory", base, size, MinMemory)
		}
		vm.Memory = Memory{Base: hv.IPA(base), Size: size}
	}

	if r.Kernel == "" {
		c.fail("kernel", ErrMissing, "missing")
	}
	c.text("kernel", r.Kernel, MaxPathLen)
	c.text("initrd", r.Initrd, MaxPathLen)
	c.text("cmdline", r.Cmdline, MaxCmdlineLen)

	if r.Console != nil {
		vm.Console = convertConsole(c, r.Console)
	}

	if len(r.Devices) > MaxDevices {
		c.fail("devices", ErrCount, "%d devices, at most %d allowed", len(r.Devices), MaxDevices)
		return vm
	}
	for j := range r.Devices {
		vm.Devices = append(vm.Devices, convertDevice(c, &r.Devices[j], j, vm.Devices))
	}
	return vm
}

// convertConsole checks a console: exactly one of base (a PL011 in
// guest-physical memory, SPI interrupt) and port (a 16550 at I/O ports,
// ISA interrupt).
func convertConsole(c *checker, r *rawConsole) *Console {
	con := &Console{}
	hasBase, hasPort := given(r.Base), given(r.Port)
	switch {
	case hasBase && hasPort:
		c.fail("console.port", ErrConflict, "give either base (a PL011 in memory) or port (a 16550 at I/O ports), not both")
		c.number("console.irq", r.IRQ)
		return con
	case !hasBase && !hasPort:
		c.fail("console.base", ErrMissing, "missing: give base (a PL011 in memory) or port (a 16550 at I/O ports)")
		c.number("console.irq", r.IRQ)
		return con
	case hasBase:
		if base, ok := c.number("console.base", r.Base); ok {
			c.window("console", base, ConsoleSize, ConsoleSize)
			con.Base = hv.IPA(base)
		}
		con.IRQ, _ = c.irq("console.irq", r.IRQ)
		return con
	}
	con.HasPort = true
	if port, ok := c.number("console.port", r.Port); ok {
		switch {
		case port%ConsolePorts != 0:
			c.fail("console.port", ErrAlign, "%#x is not a multiple of %d", port, ConsolePorts)
		case port > PortSpace-ConsolePorts:
			c.fail("console.port", ErrRange, "port %#x + %d ends beyond the I/O port space (%#x ports)", port, ConsolePorts, PortSpace)
		default:
			con.Port = uint16(port)
		}
	}
	con.IRQ, _ = c.isaIRQ("console.irq", r.IRQ)
	return con
}

// convertDevice checks a device. It needs a memory window (base and
// size), I/O port ranges, or both; without ports, base and size are
// required as they always were.
func convertDevice(c *checker, r *rawDevice, j int, before []Device) Device {
	f := fmt.Sprintf("devices[%d]", j)
	d := Device{Name: r.Name}
	c.name(f+".name", r.Name)
	for k, o := range before {
		if r.Name != "" && o.Name == r.Name {
			c.fail(f+".name", ErrName, "%q is already the name of devices[%d]", r.Name, k)
			break
		}
	}
	if len(r.Ports) > MaxPortRanges {
		c.fail(f+".ports", ErrCount, "%d port ranges, at most %d allowed", len(r.Ports), MaxPortRanges)
	} else {
		for k := range r.Ports {
			if pr, ok := c.portRange(fmt.Sprintf("%s.ports[%d]", f, k), &r.Ports[k]); ok {
				d.Ports = append(d.Ports, pr)
			}
		}
	}
	if len(r.Ports) == 0 || given(r.Base) || given(r.Size) {
		convertWindow(c, f, r, &d)
	} else if given(r.PA) {
		c.fail(f+".pa", ErrConflict, "pa without a memory window: give base and size too, or drop pa")
	}
	if len(r.IRQs) > MaxDeviceIRQs {
		c.fail(f+".irqs", ErrCount, "%d interrupts, at most %d allowed", len(r.IRQs), MaxDeviceIRQs)
		return d
	}
	for k, raw := range r.IRQs {
		if irq, ok := c.irq(fmt.Sprintf("%s.irqs[%d]", f, k), raw); ok {
			d.IRQs = append(d.IRQs, irq)
		}
	}
	return d
}

// convertWindow checks a device's memory window: base, size and pa.
func convertWindow(c *checker, f string, r *rawDevice, d *Device) {
	base, ok1 := c.number(f+".base", r.Base)
	size, ok2 := c.number(f+".size", r.Size)
	if ok1 && ok2 {
		c.window(f, base, size, hv.PageSize)
	}
	d.Base, d.Size, d.PA = hv.IPA(base), size, hv.PA(base)
	if given(r.PA) {
		pa, ok := c.number(f+".pa", r.PA)
		if ok && pa%hv.PageSize != 0 {
			c.fail(f+".pa", ErrAlign, "%#x is not a multiple of %#x", pa, hv.PageSize)
		}
		if end := pa + size; ok && ok2 && (end < pa || end > 1<<AddrBits) {
			c.fail(f+".pa", ErrRange, "pa %#x + size %#x ends beyond the %d-bit address space", pa, size, AddrBits)
		}
		d.PA = hv.PA(pa)
	}
}
