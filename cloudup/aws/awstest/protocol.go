package awstest

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// params reads a query-protocol request (EC2 or awsquery): flattened keys
// like Filter.1.Value.2 (EC2) or Tags.member.1.Key (awsquery). A params
// value is a view under a key prefix, so nested structures read alike.
type params struct {
	v      url.Values
	prefix string
}

func (p params) has(key string) bool {
	_, ok := p.v[p.prefix+key]
	return ok
}

// str is the value of key, "" when absent.
func (p params) str(key string) string { return p.v.Get(p.prefix + key) }

func (p params) int(key string, def int) (int, *apiError) {
	s := p.str(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errInvalidParameter("%s: %q is not a number", key, s)
	}
	return n, nil
}

func (p params) bool(key string) bool { return p.str(key) == "true" }

// sub is the structure under key.
func (p params) sub(key string) params { return params{v: p.v, prefix: p.prefix + key + "."} }

// element returns the i-th (1-based) element prefix of list key, in either
// the EC2 (key.i) or the awsquery (key.member.i) form; ok is false past the end.
func (p params) element(key string, i int) (string, bool) {
	for _, k := range []string{p.prefix + key + "." + strconv.Itoa(i), p.prefix + key + ".member." + strconv.Itoa(i)} {
		if _, ok := p.v[k]; ok {
			return k, true
		}
		for vk := range p.v {
			if strings.HasPrefix(vk, k+".") {
				return k, true
			}
		}
	}
	return "", false
}

// list is the string list under key.
func (p params) list(key string) []string {
	var out []string
	for i := 1; ; i++ {
		k, ok := p.element(key, i)
		if !ok {
			return out
		}
		out = append(out, p.v.Get(k))
	}
}

// structs is the list of structures under key.
func (p params) structs(key string) []params {
	var out []params
	for i := 1; ; i++ {
		k, ok := p.element(key, i)
		if !ok {
			return out
		}
		out = append(out, params{v: p.v, prefix: k + "."})
	}
}

// x is an XML element: text or children.
type x struct {
	name string
	text string
	kids []x
	leaf bool
}

// el is an element with children; nil-named children (from opt) are skipped.
func el(name string, kids ...x) x { return x{name: name, kids: kids} }

// txt is a text element.
func txt(name, text string) x { return x{name: name, text: text, leaf: true} }

// opt is a text element that is left out when text is "".
func opt(name, text string) x {
	if text == "" {
		return x{}
	}
	return txt(name, text)
}

func num[T ~int | ~int32 | ~int64](name string, n T) x {
	return txt(name, strconv.FormatInt(int64(n), 10))
}

func boolean(name string, b bool) x { return txt(name, strconv.FormatBool(b)) }

// list wraps elements, each named item, in name.
func list(name, item string, elems []x) x {
	out := x{name: name}
	for _, e := range elems {
		e.name = item
		out.kids = append(out.kids, e)
	}
	return out
}

func (e x) write(b *bytes.Buffer) {
	if e.name == "" {
		return
	}
	b.WriteString("<" + e.name + ">")
	if e.leaf {
		_ = xml.EscapeText(b, []byte(e.text))
	} else {
		for _, k := range e.kids {
			k.write(b)
		}
	}
	b.WriteString("</" + e.name + ">")
}

// ec2Tags renders tags as an EC2 tagSet, sorted by key.
func ec2Tags(tags map[string]string) x {
	var items []x
	for _, k := range sortedKeys(tags) {
		items = append(items, el("item", txt("key", k), txt("value", tags[k])))
	}
	return list("tagSet", "item", items)
}

// queryTags renders tags as an awsquery Tags member list, sorted by key.
func queryTags(tags map[string]string) x {
	var items []x
	for _, k := range sortedKeys(tags) {
		items = append(items, el("member", txt("Key", k), txt("Value", tags[k])))
	}
	return list("Tags", "member", items)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// apiError is an AWS error response.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newErr(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

func errInvalidParameter(format string, a ...any) *apiError {
	return newErr(http.StatusBadRequest, "InvalidParameterValue", format, a...)
}

func errDependency(format string, a ...any) *apiError {
	return newErr(http.StatusBadRequest, "DependencyViolation", format, a...)
}

// page cuts items (already in a stable order) into one page. The page size
// is the request's (capped at max), else def (0: everything), and never
// more than the server's PageLimit. Tokens are opaque offsets.
func (s *Server) page(n int, token string, def, max int, size int) (from, to int, next string, err *apiError) {
	limit := def
	if size > 0 {
		if size > max {
			return 0, 0, "", errInvalidParameter("page size %d is above the maximum %d", size, max)
		}
		limit = size
	}
	if s.opts.PageLimit > 0 && (limit == 0 || limit > s.opts.PageLimit) {
		limit = s.opts.PageLimit
	}
	if token != "" {
		raw, derr := base64.RawURLEncoding.DecodeString(token)
		off, cerr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if derr != nil || cerr != nil || off < 0 || off > n {
			return 0, 0, "", newErr(http.StatusBadRequest, "InvalidNextToken", "the token %q is invalid", token)
		}
		from = off
	}
	to = n
	if limit > 0 && from+limit < n {
		to = from + limit
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(to)))
	}
	return from, to, next, nil
}
