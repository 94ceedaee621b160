package rollingupdate

import (
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// resolveSettings returns a group's maxSurge and maxUnavailable as machine
// counts: the group's spec, else the cluster's, else the defaults (surge 1
// where the provider can detach; unavailable 1 unless surging). Percentages
// are of the group's size, surge rounded up and unavailable down (at least
// 1), as kops does. Control-plane groups never surge and replace one machine
// at a time; a group never ends up with both zero.
func resolveSettings(c *v1alpha1.Cluster, ig *v1alpha1.InstanceGroup, size int, canSurge bool) (surge, unavailable int) {
	if ig.IsControlPlane() {
		return 0, 1
	}
	var surgeV, unavailV *intstr.IntOrString
	if ru := ig.Spec.RollingUpdate; ru != nil {
		surgeV, unavailV = ru.MaxSurge, ru.MaxUnavailable
	}
	if ru := c.Spec.RollingUpdate; ru != nil {
		if surgeV == nil {
			surgeV = ru.MaxSurge
		}
		if unavailV == nil {
			unavailV = ru.MaxUnavailable
		}
	}
	if surgeV != nil {
		surge = scaled(*surgeV, size, true)
	} else if canSurge {
		surge = 1
	}
	if !canSurge {
		surge = 0
	}
	switch {
	case unavailV != nil:
		unavailable = scaled(*unavailV, size, false)
		if unavailV.Type == intstr.String && unavailable == 0 && size > 0 {
			unavailable = 1
		}
	case surge == 0:
		unavailable = 1
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// scaled resolves an int-or-percent against size; an unparsable value
// (validation rejects those) counts as 0.
func scaled(v intstr.IntOrString, size int, roundUp bool) int {
	if v.Type == intstr.Int {
		return max(0, int(v.IntVal))
	}
	pct, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil || !strings.HasSuffix(v.StrVal, "%") || pct < 0 {
		return 0
	}
	f := float64(pct) * float64(size) / 100
	if roundUp {
		return int(math.Ceil(f))
	}
	return int(math.Floor(f))
}
