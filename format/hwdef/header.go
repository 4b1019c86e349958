package hwdef

import (
	"bytes"
	"fmt"
	"strings"
)

// Header is the C header of d, hw/NAME.h, as Azure Sphere's tools write it: the description's
// top content, an #include of each import's header, and a #define for each peripheral, to its
// Mapping or to its numeric AppManifestValue. A peripheral whose value is a string (a
// controller such as "ISU0") has no number to define and gets a comment instead.
func (d *Definition) Header() []byte {
	var b bytes.Buffer
	for _, l := range d.File.Description.MainCoreHeaderFileTopContent {
		b.WriteString(strings.NewReplacer("\r", " ", "\n", " ").Replace(l) + "\n") // C comment text, as written
	}
	b.WriteString("\n// This file was generated from the hardware definition " + d.Name() + ".json by Rampart.\n\n#pragma once\n")
	for _, imp := range d.Imports {
		fmt.Fprintf(&b, "#include \"%s.h\"\n", imp.Name())
	}
	for _, p := range d.File.Peripherals {
		b.WriteString("\n")
		if p.Comment != "" {
			b.WriteString("// " + oneLine(p.Comment) + "\n")
		}
		if p.Mapping != "" {
			fmt.Fprintf(&b, "#define %s %s\n", p.Name, p.Mapping)
			continue
		}
		v, _ := p.value() // checked when the file was read
		if v.IsNumber {
			fmt.Fprintf(&b, "#define %s (%d)\n", p.Name, v.Number)
		} else {
			fmt.Fprintf(&b, "// %s: %s %q has no numeric value in Rampart's C SDK\n", p.Name, p.Type, v.String)
		}
	}
	return b.Bytes()
}

// oneLine keeps a // comment on its line: no line breaks, and no backslash, which would splice
// the next line into the comment.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ", "\\", "/").Replace(s)
}
