package validation

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// validateRollingUpdate checks maxSurge and maxUnavailable: each a count >= 0
// or a percentage 0%..100%, and not both zero, since a rolling update could
// then neither add a machine nor take one away.
func validateRollingUpdate(ru *v1alpha1.RollingUpdate, path *field.Path) field.ErrorList {
	if ru == nil {
		return nil
	}
	var errs field.ErrorList
	surge, surgeOK := intOrPercent(&errs, path.Child("maxSurge"), ru.MaxSurge)
	unavail, unavailOK := intOrPercent(&errs, path.Child("maxUnavailable"), ru.MaxUnavailable)
	if surgeOK && unavailOK && surge == 0 && unavail == 0 {
		errs = append(errs, field.Invalid(path.Child("maxUnavailable"), ru.MaxUnavailable.String(),
			"maxSurge and maxUnavailable are both 0, so a rolling update could never replace a machine"))
	}
	return errs
}

// validateControlPlaneRollingUpdate adds the control-plane rule: a new
// control-plane machine would be a new etcd member the cluster was not sized
// for, so these groups replace in place and must be allowed to go unavailable.
func validateControlPlaneRollingUpdate(ru *v1alpha1.RollingUpdate, path *field.Path) field.ErrorList {
	if ru == nil {
		return nil
	}
	var ignored field.ErrorList // already reported by validateRollingUpdate
	surge, surgeOK := intOrPercent(&ignored, path, ru.MaxSurge)
	unavail, unavailOK := intOrPercent(&ignored, path, ru.MaxUnavailable)
	var errs field.ErrorList
	if surgeOK && surge != 0 {
		errs = append(errs, field.Forbidden(path.Child("maxSurge"), "control-plane groups never surge; leave maxSurge unset or 0"))
	}
	// Both zero is already reported; zero with surge unset or forbidden is not.
	if unavailOK && unavail == 0 && (!surgeOK || surge != 0) {
		errs = append(errs, field.Invalid(path.Child("maxUnavailable"), ru.MaxUnavailable.String(),
			"control-plane groups never surge, so maxUnavailable 0 would never replace a machine"))
	}
	return errs
}

// intOrPercent returns the number (or percentage) and whether v was set and
// valid; an invalid value is appended to errs.
func intOrPercent(errs *field.ErrorList, p *field.Path, v *intstr.IntOrString) (int, bool) {
	if v == nil {
		return 0, false
	}
	switch v.Type {
	case intstr.Int:
		if v.IntVal < 0 {
			*errs = append(*errs, field.Invalid(p, v.IntVal, "must not be negative"))
			return 0, false
		}
		return int(v.IntVal), true
	case intstr.String:
		n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
		switch {
		case !strings.HasSuffix(v.StrVal, "%") || err != nil || strings.HasPrefix(v.StrVal, "+"):
			*errs = append(*errs, field.Invalid(p, v.StrVal, "must be a number of machines or a percentage such as 25%"))
		case n < 0 || n > 100:
			*errs = append(*errs, field.Invalid(p, v.StrVal, "must be a percentage between 0% and 100%"))
		default:
			return n, true
		}
		return 0, false
	}
	*errs = append(*errs, field.Invalid(p, v.String(), "must be a number or a percentage"))
	return 0, false
}
