package awstest

import "strings"

// filter is one EC2 Filter: a resource matches when one of its values for
// the name matches one of the filter's values (* and ? are wildcards).
type filter struct {
	name   string
	values []string
}

func parseFilters(p params) []filter {
	var out []filter
	for _, f := range p.structs("Filter") {
		out = append(out, filter{name: f.str("Name"), values: f.list("Value")})
	}
	return out
}

// fields answers a filter name for one resource; known is false for a
// filter the resource kind does not support.
type fields func(name string) (values []string, known bool)

// matches applies every filter to a resource with tags and fields.
func matches(fs []filter, tags map[string]string, f fields) (bool, *apiError) {
	for _, flt := range fs {
		var have []string
		switch {
		case strings.HasPrefix(flt.name, "tag:"):
			if v, ok := tags[strings.TrimPrefix(flt.name, "tag:")]; ok {
				have = []string{v}
			}
		case flt.name == "tag-key":
			have = sortedKeys(tags)
		case flt.name == "tag-value":
			for _, k := range sortedKeys(tags) {
				have = append(have, tags[k])
			}
		default:
			var known bool
			if have, known = f(flt.name); !known {
				return false, errInvalidParameter("The filter '%s' is invalid", flt.name)
			}
		}
		if !anyMatch(have, flt.values) {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(have, patterns []string) bool {
	for _, h := range have {
		for _, p := range patterns {
			if glob(p, h) {
				return true
			}
		}
	}
	return false
}

// idFilter restricts to ids when the request lists some.
func idFilter(ids []string, id string) bool {
	if len(ids) == 0 {
		return true
	}
	for _, i := range ids {
		if i == id {
			return true
		}
	}
	return false
}

// glob matches s against an EC2 filter pattern: * is any run of characters
// and ? any one character.
func glob(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if glob(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}
