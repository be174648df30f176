package workflows

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/crmflow/crmflow/internal/suggest"
	"github.com/crmflow/crmflow/triggers"
)

// This file maps positions: a line and column inside a YAML scalar's value (an expression, as
// expr reports its errors) to the line and column in the file, across YAML's quoting, escapes,
// folding and block scalars. Columns count characters, as yaml.v3 and expr both do.

// breakLen returns the byte length of the line break at src[i:], or 0. It follows YAML (and
// yaml.v3): CRLF, CR, LF, NEL, LS and PS are line breaks.
func breakLen(src []byte, i int) int {
	if i >= len(src) {
		return 0
	}
	switch src[i] {
	case '\n':
		return 1
	case '\r':
		if i+1 < len(src) && src[i+1] == '\n' {
			return 2
		}
		return 1
	case 0xC2:
		if i+1 < len(src) && src[i+1] == 0x85 {
			return 2
		}
	case 0xE2:
		if i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9) {
			return 3
		}
	}
	return 0
}

// lineStarts returns the byte offset where each line begins; it always has at least one line.
func lineStarts(src []byte) []int {
	out := []int{0}
	for i := 0; i < len(src); {
		if n := breakLen(src, i); n > 0 {
			i += n
			out = append(out, i)
			continue
		}
		i++
	}
	return out
}

// lineText returns line (1-based) without its line break; "" for a line past the end.
func (p *parser) lineText(line int) string {
	if line < 1 || line > len(p.lineStarts) {
		return ""
	}
	start := p.lineStarts[line-1]
	end := start
	for end < len(p.src) && breakLen(p.src, end) == 0 {
		end++
	}
	return string(p.src[start:end])
}

// offset returns the byte offset of a (line, column) position.
func (p *parser) offset(line, col int) (int, bool) {
	if line < 1 || line > len(p.lineStarts) || col < 1 {
		return 0, false
	}
	off := p.lineStarts[line-1]
	for c := 1; c < col; c++ {
		if off >= len(p.src) || breakLen(p.src, off) > 0 {
			return 0, false
		}
		_, size := utf8.DecodeRune(p.src[off:])
		off += size
	}
	return off, true
}

// runeCol returns the 1-based column, in characters, of byte index i of line.
func runeCol(line string, i int) int { return utf8.RuneCountInString(line[:i]) + 1 }

// snippet shows the line of pos with a caret under its column, cut to triggers.SnippetWidth
// characters around it (triggers.ClipLine).
func (p *parser) snippet(pos Position) string {
	text := p.lineText(pos.Line)
	if text == "" && pos.Line > len(p.lineStarts) {
		return ""
	}
	text = strings.ReplaceAll(text, "\t", " ")
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "?")
	}
	text, col := triggers.ClipLine(text, pos.Column)
	num := strconv.Itoa(pos.Line)
	pad := strings.Repeat(" ", len(num))
	return " " + num + " | " + text + "\n " + pad + " | " + strings.Repeat(" ", max(col-1, 0)) + "^"
}

// scalarMap knows where each character of a scalar's value is in the file.
type scalarMap struct {
	start Position   // the node's position: the fallback
	value []rune     // the value
	pos   []Position // pos[i] is where value[i] is; shorter than value when the mapping failed part way
}

// at returns where character i of the value is; i == len(value) is just past the last one.
func (m scalarMap) at(i int) Position {
	switch {
	case i < len(m.pos):
		return m.pos[i]
	case len(m.pos) == len(m.value) && len(m.pos) > 0:
		last := m.pos[len(m.pos)-1]
		return Position{Line: last.Line, Column: last.Column + 1}
	}
	return m.start
}

// exprPos converts a 1-based line and column inside the value (as expr reports them) to a file
// position.
func (m scalarMap) exprPos(line, col int) Position {
	i, l := 0, 1
	for i < len(m.value) && l < line {
		if m.value[i] == '\n' {
			l++
		}
		i++
	}
	// Stay on the line: a column past its end points just after it.
	for c := 1; c < col && i < len(m.value) && m.value[i] != '\n'; c++ {
		i++
	}
	return m.at(i)
}

// mapScalar finds where each character of scalar n's value is in the file. It walks the source
// from the node's position the way YAML reads the scalar's style: past the quote or the block
// header, decoding double-quoted escapes and single-quoted ”, and matching the value's characters
// to the source's while skipping what folding and indentation removed. Where the source and the
// value part ways (an unusual layout), the rest of the value maps to the node's position.
func (p *parser) mapScalar(n *yaml.Node) scalarMap {
	m := scalarMap{start: nodePos(n), value: []rune(n.Value)}
	off, ok := p.offset(n.Line, n.Column)
	if !ok {
		return m
	}
	src := p.src
	line, col := n.Line, n.Column
	next := func() {
		if b := breakLen(src, off); b > 0 {
			off += b
			line++
			col = 1
			return
		}
		_, size := utf8.DecodeRune(src[off:])
		off += size
		col++
	}
	skipBlanks := func() {
		for off < len(src) && (src[off] == ' ' || src[off] == '\t') {
			next()
		}
	}
	// A tag (!!str) or an anchor (&a) may come first.
	for off < len(src) && (src[off] == '!' || src[off] == '&') {
		for off < len(src) && src[off] != ' ' && src[off] != '\t' && breakLen(src, off) == 0 {
			next()
		}
		skipBlanks()
	}
	style := n.Style &^ yaml.TaggedStyle
	dq, sq := style&yaml.DoubleQuotedStyle != 0, style&yaml.SingleQuotedStyle != 0
	switch {
	case style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		if off >= len(src) || (src[off] != '|' && src[off] != '>') {
			return m
		}
		for off < len(src) && breakLen(src, off) == 0 {
			next()
		}
		if off >= len(src) {
			return m
		}
		next()
	case dq || sq:
		if off >= len(src) || (dq && src[off] != '"') || (sq && src[off] != '\'') {
			return m
		}
		next()
	}
	for vi := 0; vi < len(m.value) && off < len(src); {
		here := Position{Line: line, Column: col}
		want := m.value[vi]
		if b := breakLen(src, off); b > 0 {
			if want == '\n' {
				m.pos = append(m.pos, here)
				vi++
			}
			next()
			continue
		}
		r, size := utf8.DecodeRune(src[off:])
		switch {
		case dq && r == '\\':
			dec, width, lineBreak := decodeEscape(src[off:])
			if width == 0 {
				return m
			}
			end := off + width
			for off < end {
				next()
			}
			if lineBreak {
				skipBlanks()
				continue
			}
			if dec != want {
				return m
			}
			m.pos = append(m.pos, here)
			vi++
			continue
		case dq && r == '"':
			return m
		case sq && r == '\'':
			if off+1 >= len(src) || src[off+1] != '\'' || want != '\'' {
				return m
			}
			m.pos = append(m.pos, here)
			vi++
			next()
			next()
			continue
		case r == want && !(r == utf8.RuneError && size == 1):
			m.pos = append(m.pos, here)
			vi++
			next()
		case r == ' ' || r == '\t':
			next() // indentation or folded spaces
		case want == ' ' || want == '\n' || want == '\t':
			m.pos = append(m.pos, here) // a space or line break that folding made
			vi++
		default:
			return m
		}
	}
	return m
}

// simpleEscapes are YAML's one-character escapes in double-quoted scalars.
var simpleEscapes = map[byte]rune{'0': 0, 'a': '\a', 'b': '\b', 't': '\t', '\t': '\t', 'n': '\n', 'v': '\v', 'f': '\f',
	'r': '\r', 'e': 0x1b, ' ': ' ', '"': '"', '/': '/', '\\': '\\', 'N': 0x85, '_': 0xA0, 'L': 0x2028, 'P': 0x2029}

// decodeEscape decodes the double-quoted escape at the start of s (which begins with a
// backslash): the character it stands for and its length in bytes, or lineBreak for an escaped
// line break (which stands for nothing). width is 0 for an invalid escape.
func decodeEscape(s []byte) (r rune, width int, lineBreak bool) {
	if len(s) < 2 {
		return 0, 0, false
	}
	if b := breakLen(s, 1); b > 0 {
		return 0, 1 + b, true
	}
	if r, ok := simpleEscapes[s[1]]; ok {
		return r, 2, false
	}
	var n int
	switch s[1] {
	case 'x':
		n = 2
	case 'u':
		n = 4
	case 'U':
		n = 8
	}
	if n == 0 || len(s) < 2+n {
		return 0, 0, false
	}
	v, err := strconv.ParseUint(string(s[2:2+n]), 16, 32)
	if err != nil {
		return 0, 0, false
	}
	return rune(v), 2 + n, false
}

// closest returns the candidate closest to s (compared in lower case), when it is close enough to be
// a likely typo.
func closest(s string, candidates []string) string {
	return suggest.Closest(strings.ToLower(s), candidates)
}
