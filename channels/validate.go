package channels

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hullproject/hull/pkg/cloud"
)

// Architectures a channel may list images for.
var architectures = []string{"amd64", "arm64"}

// FieldError is one problem in a channel file: the field, and the line of the
// file it is on (0 when it could not be placed).
type FieldError struct {
	Line  int
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

// InvalidError is a channel file refused by parsing or validation. Its
// message has one line per problem, each naming the channel, line and field.
type InvalidError struct {
	Channel string
	Errs    []*FieldError
}

func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, fe := range e.Errs {
		lines[i] = fmt.Sprintf("channel %s: %s", e.Channel, fe.Error())
	}
	return strings.Join(lines, "\n")
}

// validate checks c and fills in the parsed versions of its entries.
func validate(c *Channel) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.APIVersion != GroupVersion {
		add("apiVersion", "must be %q, not %q", GroupVersion, c.APIVersion)
	}
	if c.Kind != KindChannel {
		add("kind", "must be %q, not %q", KindChannel, c.Kind)
	}
	if c.Metadata.Name == "" {
		add("metadata.name", "required")
	}
	kvs := c.Spec.KubernetesVersions
	if len(kvs) == 0 {
		add("spec.kubernetesVersions", "required: list at least one Kubernetes minor")
	}
	for i := range kvs {
		validateEntry(&kvs[i], fmt.Sprintf("spec.kubernetesVersions[%d]", i), add)
	}
	validateOrder(kvs, add)
	baked := cloud.NamesWhere(func(d cloud.Driver) bool { return d.Images().Baked })
	for i, img := range c.Spec.BaseImages {
		// Only clouds that build images there need one to bake from.
		if !slices.Contains(baked, img.Provider) {
			add(fmt.Sprintf("spec.baseImages[%d].provider", i), "unsupported value %q, want %s", img.Provider, cloud.OneOf(baked))
		}
	}
	if len(c.Spec.BaseImages) > 0 {
		validateImages(c.Spec.BaseImages, "spec.baseImages", add)
	}
	return errs
}

type addFunc func(field, format string, args ...any)

func validateEntry(kv *KubernetesVersion, p string, add addFunc) {
	if kv.Range == "" {
		add(p+".range", `required, such as ">=1.37.0 <1.38.0"`)
	} else if r, err := parseRange(kv.Range); err != nil {
		add(p+".range", "%q: %v", kv.Range, err)
	} else if err := r.singleMinor(); err != nil {
		add(p+".range", "%q: %v", kv.Range, err)
	} else {
		kv.bounds = r
		kv.minor = version.MajorMinor(r.lower.v.Major(), r.lower.v.Minor())
	}
	kv.recommended = entryVersion(kv, p+".recommendedVersion", kv.RecommendedVersion, add)
	kv.required = entryVersion(kv, p+".requiredVersion", kv.RequiredVersion, add)
	if kv.recommended != nil && kv.required != nil && kv.required.GreaterThan(kv.recommended) {
		add(p+".requiredVersion", "%s is newer than recommendedVersion %s", kv.RequiredVersion, kv.RecommendedVersion)
	}
	if kv.EtcdVersion == "" {
		add(p+".etcdVersion", "required, such as 3.6.16")
	} else if _, err := version.ParseSemantic(kv.EtcdVersion); err != nil {
		add(p+".etcdVersion", "%q is not a semantic version", kv.EtcdVersion)
	}
	validateImages(kv.Images, p+".images", add)
}

// entryVersion parses one of an entry's versions and checks it is in the
// entry's range.
func entryVersion(kv *KubernetesVersion, p, s string, add addFunc) *version.Version {
	if s == "" {
		add(p, "required, such as 1.37.2")
		return nil
	}
	v, err := version.ParseSemantic(s)
	if err != nil {
		add(p, "%q is not a semantic version", s)
		return nil
	}
	if kv.minor != nil && !kv.contains(v) {
		add(p, "%s is outside its range %q", s, kv.Range)
		return nil
	}
	return v
}

func validateImages(imgs []Image, p string, add addFunc) {
	if len(imgs) == 0 {
		add(p, "required: list the image of at least one provider")
	}
	seen := map[string]int{}
	for i, img := range imgs {
		ip := fmt.Sprintf("%s[%d]", p, i)
		d, err := cloud.Lookup(img.Provider)
		switch {
		case img.Provider == "":
			add(ip+".provider", "required: %s", cloud.OneOf(cloud.Names()))
		case err != nil:
			add(ip+".provider", "%v", err)
		}
		if !slices.Contains(architectures, img.Architecture) {
			add(ip+".architecture", "unsupported value %q, want one of %s", img.Architecture, strings.Join(architectures, ", "))
		}
		if img.Name == "" {
			add(ip+".name", "required")
		}
		switch {
		case d == nil:
		case d.Images().Owner && img.Owner == "":
			add(ip+".owner", "required for %s: the account whose images are searched (an id, self or amazon)", img.Provider)
		case !d.Images().Owner && img.Owner != "":
			add(ip+".owner", "only %s images have an owner", cloud.OneOf(cloud.NamesWhere(func(d cloud.Driver) bool { return d.Images().Owner })))
		}
		key := img.Provider + "/" + img.Architecture
		if j, dup := seen[key]; dup {
			add(ip, "second %s image (first is %s[%d])", key, p, j)
		} else {
			seen[key] = i
		}
	}
}

// validateOrder refuses overlapping ranges, a minor listed twice, and entries
// not listed newest first.
func validateOrder(kvs []KubernetesVersion, add addFunc) {
	for i := range kvs {
		if kvs[i].minor == nil {
			continue
		}
		for j := range i {
			if kvs[j].minor == nil {
				continue
			}
			p := fmt.Sprintf("spec.kubernetesVersions[%d].range", i)
			switch {
			case kvs[i].bounds.overlaps(kvs[j].bounds):
				add(p, "%q overlaps spec.kubernetesVersions[%d].range %q", kvs[i].Range, j, kvs[j].Range)
			case sameMinor(kvs[i].minor, kvs[j].minor):
				add(p, "minor %s is already listed by spec.kubernetesVersions[%d]", kvs[i].Minor(), j)
			case j == i-1 && compareMinor(kvs[i].minor, kvs[j].minor) > 0:
				add(p, "list minors newest first: %s comes after %s", kvs[i].Minor(), kvs[j].Minor())
			}
		}
	}
}

// bound is one end of a range.
type bound struct {
	v         *version.Version
	inclusive bool
}

// versionRange is a closed or half-open interval of versions, written
// ">=1.37.0 <1.38.0".
type versionRange struct {
	lower, upper bound
}

// parseRange reads a lower bound (>= or >) and an upper bound (< or <=),
// separated by spaces, in either order.
func parseRange(s string) (versionRange, error) {
	var r versionRange
	fields := strings.Fields(s)
	for i := 0; i < len(fields); i++ {
		op, rest := splitOperator(fields[i])
		if op == "" {
			return r, fmt.Errorf("%q must start with >=, >, <= or <", fields[i])
		}
		if rest == "" && i+1 < len(fields) {
			i++
			rest = fields[i]
		}
		v, err := version.ParseSemantic(rest)
		if err != nil {
			return r, fmt.Errorf("%q is not a semantic version", rest)
		}
		b := bound{v: v, inclusive: strings.HasSuffix(op, "=")}
		lower := strings.HasPrefix(op, ">")
		switch {
		case lower && r.lower.v != nil, !lower && r.upper.v != nil:
			return r, fmt.Errorf("two %s bounds", map[bool]string{true: "lower", false: "upper"}[lower])
		case lower:
			r.lower = b
		default:
			r.upper = b
		}
	}
	if r.lower.v == nil || r.upper.v == nil {
		return r, fmt.Errorf(`needs a lower and an upper bound, such as ">=1.37.0 <1.38.0"`)
	}
	if r.upper.v.LessThan(r.lower.v) || (r.upper.v.EqualTo(r.lower.v) && !(r.lower.inclusive && r.upper.inclusive)) {
		return r, fmt.Errorf("holds no version")
	}
	return r, nil
}

func splitOperator(s string) (op, rest string) {
	for _, op := range []string{">=", "<=", ">", "<"} {
		if strings.HasPrefix(s, op) {
			return op, s[len(op):]
		}
	}
	return "", s
}

// singleMinor refuses a range reaching past its lower bound's minor.
func (r versionRange) singleMinor() error {
	next := version.MustParseSemantic(fmt.Sprintf("%d.%d.0", r.lower.v.Major(), r.lower.v.Minor()+1))
	if r.upper.v.GreaterThan(next) || (r.upper.v.EqualTo(next) && r.upper.inclusive) {
		return fmt.Errorf("spans more than minor %s; list each minor on its own", majorMinor(r.lower.v))
	}
	return nil
}

func (r versionRange) contains(v *version.Version) bool {
	return r.lower.admits(v, 1) && r.upper.admits(v, -1)
}

// admits reports whether v lies on the inside of b; side is 1 for a lower
// bound (v must be above it) and -1 for an upper bound.
func (b bound) admits(v *version.Version, side int) bool {
	switch {
	case v.EqualTo(b.v):
		return b.inclusive
	case side > 0:
		return v.GreaterThan(b.v)
	}
	return v.LessThan(b.v)
}

func (r versionRange) overlaps(o versionRange) bool {
	return !below(r.upper, o.lower) && !below(o.upper, r.lower)
}

// below reports whether every version under upper bound u is below lower bound l.
func below(u, l bound) bool {
	return u.v.LessThan(l.v) || (u.v.EqualTo(l.v) && !(u.inclusive && l.inclusive))
}
