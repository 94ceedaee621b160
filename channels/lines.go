package channels

import (
	"strconv"
	"strings"
)

// yamlLine is what lineOf needs to know about one line of a YAML file.
type yamlLine struct {
	no     int    // 1-based line number
	indent int    // column of the first non-space character
	dash   bool   // the line starts a sequence item ("- ...")
	key    string // the mapping key on the line, if any
	keyCol int    // column of key, after any "- " markers
}

// scanLines reads the block-style YAML hull's channel files are written in.
// Blank lines, comments and document markers are left out. Flow style and
// multi-line scalars are not understood; lineOf then finds less, not wrong.
func scanLines(data []byte) []yamlLine {
	var out []yamlLine
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimRight(raw, " \t\r")
		t := strings.TrimLeft(line, " ")
		if t == "" || strings.HasPrefix(t, "#") || t == "---" || t == "..." {
			continue
		}
		l := yamlLine{no: i + 1, indent: len(line) - len(t)}
		col := l.indent
		for strings.HasPrefix(t, "- ") || t == "-" {
			l.dash = true
			rest := strings.TrimLeft(strings.TrimPrefix(t, "-"), " ")
			col += len(t) - len(rest)
			t = rest
		}
		l.key, l.keyCol = keyOf(t), col
		out = append(out, l)
	}
	return out
}

// keyOf returns the mapping key that starts t, or "".
func keyOf(t string) string {
	if strings.HasPrefix(t, `"`) || strings.HasPrefix(t, `'`) {
		end := strings.Index(t[1:], t[:1])
		if end < 0 || !strings.HasPrefix(t[end+2:], ":") {
			return ""
		}
		return t[1 : end+1]
	}
	i := strings.Index(t, ":")
	if i <= 0 || (i+1 < len(t) && t[i+1] != ' ') {
		return ""
	}
	return t[:i]
}

// pathSegment is one step of a field path: a key, or an index into a list.
type pathSegment struct {
	key   string
	index int // -1 for a key
}

// parsePath splits "spec.kubernetesVersions[1].range" into its segments.
func parsePath(path string) []pathSegment {
	var segs []pathSegment
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			segs = append(segs, pathSegment{key: key, index: -1})
		}
		for rest != "" {
			n, after, ok := strings.Cut(rest, "]")
			i, err := strconv.Atoi(n)
			if !ok || err != nil {
				return segs
			}
			segs = append(segs, pathSegment{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return segs
}

// lineOf returns the line of the field at path, else of the deepest part of
// the path that exists (so a missing field points at the object that lacks
// it), else 0.
func lineOf(lines []yamlLine, path string) int {
	lo, hi, best := 0, len(lines), 0
	for _, seg := range parsePath(path) {
		var at int
		if seg.index >= 0 {
			at, hi = item(lines, lo, hi, seg.index)
			lo = at
		} else {
			at, hi = child(lines, lo, hi, seg.key)
			lo = at + 1
		}
		if at < 0 {
			return best
		}
		best = lines[at].no
	}
	return best
}

// child finds key among the direct children of the mapping in lines[lo:hi]
// and returns its line and the end of its value.
func child(lines []yamlLine, lo, hi int, key string) (at, end int) {
	col := -1
	for _, l := range lines[lo:hi] {
		if l.key != "" && (col < 0 || l.keyCol < col) {
			col = l.keyCol
		}
	}
	for i := lo; i < hi; i++ {
		if l := lines[i]; l.key == key && l.keyCol == col {
			end := i + 1
			for end < hi && (lines[end].indent > col || (lines[end].indent == col && lines[end].dash)) {
				end++
			}
			return i, end
		}
	}
	return -1, hi
}

// item finds the index-th item of the sequence in lines[lo:hi] and returns
// its first line and its end.
func item(lines []yamlLine, lo, hi, index int) (at, end int) {
	col := -1
	for _, l := range lines[lo:hi] {
		if l.dash && (col < 0 || l.indent < col) {
			col = l.indent
		}
	}
	var starts []int
	for i := lo; i < hi; i++ {
		if lines[i].dash && lines[i].indent == col {
			starts = append(starts, i)
		}
	}
	if index >= len(starts) {
		return -1, hi
	}
	if index+1 < len(starts) {
		return starts[index], starts[index+1]
	}
	return starts[index], hi
}
