package channels

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// typeFieldError turns a wrong value type (a list where a version belongs)
// into a FieldError with the field's full path, list indexes included, so
// lineOf can find its line. Other errors give nil.
func typeFieldError(j []byte, err error) *FieldError {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return nil
	}
	path := jsonPathAt(j, te.Offset)
	if path == "" {
		path = te.Field
	}
	return &FieldError{Field: path, Msg: fmt.Sprintf("wrong type: got %s, want %s", te.Value, typeWord(te.Type.Kind().String()))}
}

func typeWord(kind string) string {
	switch kind {
	case "slice", "array":
		return "list"
	case "struct", "map":
		return "mapping"
	case "int", "int32", "int64", "uint", "uint32", "uint64", "float64":
		return "number"
	}
	return kind
}

// jsonPathAt is the path ("spec.kubernetesVersions[1].recommendedVersion")
// of the last value that starts before offset in the JSON document j: the
// value a decoder reports a type error at.
func jsonPathAt(j []byte, offset int64) string {
	type frame struct {
		array bool
		index int
		key   string
	}
	var stack []frame
	path := func() string {
		var b bytes.Buffer
		for _, f := range stack {
			if f.array {
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		return b.String()
	}
	expectKey := false
	// valueDone moves past one value: to the next list index, or the next key.
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if top := &stack[len(stack)-1]; top.array {
			top.index++
		} else {
			expectKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	var found string
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return found
		}
		if expectKey {
			if k, ok := tok.(string); ok {
				stack[len(stack)-1].key = k
				expectKey = false
				continue
			}
		}
		// The token starts after any separator and whitespace before it.
		for int(start) < len(j) && strings.IndexByte(" \t\r\n,:", j[start]) >= 0 {
			start++
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			valueDone()
			continue
		}
		if start < offset {
			found = path()
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{})
			expectKey = true
		case json.Delim('['):
			stack = append(stack, frame{array: true})
		default:
			valueDone()
		}
	}
}
