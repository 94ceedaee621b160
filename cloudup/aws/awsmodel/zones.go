package awsmodel

import (
	"regexp"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// awsZone splits an AWS availability zone, local zone or wavelength zone
// name into its region and the rest: us-east-1a, us-west-2-lax-1a,
// us-east-1-wl1-bos-wlz-1, us-gov-west-1b.
var awsZone = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-[0-9]+)(?:[a-z]|-[a-z0-9-]*[a-z0-9])$`)

// RegionOfZone is the region an AWS zone is in (us-east-1a -> us-east-1);
// ok is false when zone is not an AWS zone name.
func RegionOfZone(zone string) (region string, ok bool) {
	m := awsZone.FindStringSubmatch(zone)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Region is the region of the cluster's zones, "" when its subnets name
// none (validation refuses an aws cluster whose zones disagree).
func Region(c *v1alpha1.Cluster) string {
	for _, s := range c.Spec.Networking.Subnets {
		if r, ok := RegionOfZone(s.Zone); ok {
			return r
		}
	}
	return ""
}

// hostedZoneID is a Route 53 hosted zone id, with or without the
// /hostedzone/ prefix the API sometimes returns.
var hostedZoneID = regexp.MustCompile(`^(/hostedzone/)?Z[A-Z0-9]{1,31}$`)

// IsHostedZoneID tells a Route 53 hosted zone id (spec.dnsZone) from a zone name.
func IsHostedZoneID(s string) bool { return hostedZoneID.MatchString(s) }
