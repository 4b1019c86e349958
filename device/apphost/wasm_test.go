package apphost_test

// A tiny WebAssembly assembler, for test modules that a Go compiler would not produce: calls
// with wild pointers, imports of unknown modules, memories over the limit.

// imp is an imported function of i32 parameters, with an i32 result or none.
type imp struct {
	module, name string
	params       int
	result       bool
}

// call is a call in _start: function fn (an import's index) with args, trapping unless it
// returns want.
type call struct {
	fn   int
	args []int32
	want int32
}

// module returns a module with imports, a memory of pages, and an exported _start that makes
// calls.
func module(imports []imp, pages uint32, calls []call) []byte {
	var types, imps []byte
	types = uleb(types, uint32(len(imports)+1))
	for _, im := range imports {
		types = append(types, 0x60)
		types = uleb(types, uint32(im.params))
		for range im.params {
			types = append(types, 0x7f)
		}
		if im.result {
			types = append(types, 1, 0x7f)
		} else {
			types = append(types, 0)
		}
	}
	types = append(types, 0x60, 0, 0) // _start: () -> ()
	imps = uleb(imps, uint32(len(imports)))
	for i, im := range imports {
		imps = name(imps, im.module)
		imps = name(imps, im.name)
		imps = append(imps, 0x00)
		imps = uleb(imps, uint32(i))
	}
	funcs := uleb(uleb(nil, 1), uint32(len(imports)))
	mem := uleb([]byte{1, 0}, pages)
	start := uint32(len(imports))
	exports := uleb(name(uleb(nil, 2), "_start"), 0)
	exports[len(exports)-1] = 0x00 // kind func…
	exports = uleb(exports, start) // …index
	exports = append(name(exports, "memory"), 0x02, 0)

	var body []byte
	body = append(body, 0) // no locals
	for _, c := range calls {
		for _, a := range c.args {
			body = append(body, 0x41)
			body = sleb(body, a)
		}
		body = append(body, 0x10)
		body = uleb(body, uint32(c.fn))
		if !imports[c.fn].result {
			continue
		}
		body = append(body, 0x41)
		body = sleb(body, c.want)
		body = append(body, 0x47, 0x04, 0x40, 0x00, 0x0b) // i32.ne; if; unreachable; end
	}
	body = append(body, 0x0b)
	code := uleb(uleb(nil, 1), uint32(len(body)))
	code = append(code, body...)

	out := []byte{0x00, 'a', 's', 'm', 1, 0, 0, 0}
	out = section(out, 1, types)
	if len(imports) > 0 {
		out = section(out, 2, imps)
	}
	out = section(out, 3, funcs)
	out = section(out, 5, mem)
	out = section(out, 7, exports)
	return section(out, 10, code)
}

// moduleNoStart returns a valid module with a memory and nothing else.
func moduleNoStart() []byte {
	return section([]byte{0x00, 'a', 's', 'm', 1, 0, 0, 0}, 5, []byte{1, 0, 1})
}

func section(b []byte, id byte, content []byte) []byte {
	b = append(b, id)
	b = uleb(b, uint32(len(content)))
	return append(b, content...)
}

func name(b []byte, s string) []byte { return append(uleb(b, uint32(len(s))), s...) }

func uleb(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
