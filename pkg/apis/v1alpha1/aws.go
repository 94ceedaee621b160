package v1alpha1

import "regexp"

// awsZone splits an AWS availability zone, local zone or wavelength zone
// name into its region and the rest: us-east-1a, us-west-2-lax-1a,
// us-east-1-wl1-bos-wlz-1, us-gov-west-1b.
var awsZone = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-[0-9]+)(?:[a-z]|-[a-z0-9-]*[a-z0-9])$`)

// AWSRegionOfZone is the region an AWS zone is in (us-east-1a -> us-east-1);
// ok is false when zone is not an AWS zone name.
func AWSRegionOfZone(zone string) (region string, ok bool) {
	m := awsZone.FindStringSubmatch(zone)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// AWSRegion is the region of the cluster's zones, "" when its subnets name
// none (validation refuses an aws cluster whose zones disagree).
func (c *Cluster) AWSRegion() string {
	for _, s := range c.Spec.Networking.Subnets {
		if r, ok := AWSRegionOfZone(s.Zone); ok {
			return r
		}
	}
	return ""
}
