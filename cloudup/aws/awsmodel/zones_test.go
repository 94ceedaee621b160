package awsmodel

import "testing"

func TestRegionOfZone(t *testing.T) {
	for zone, want := range map[string]string{
		"us-east-1a":              "us-east-1",
		"eu-central-2c":           "eu-central-2",
		"us-gov-west-1b":          "us-gov-west-1",
		"ap-southeast-4a":         "ap-southeast-4",
		"us-west-2-lax-1a":        "us-west-2",
		"us-east-1-wl1-bos-wlz-1": "us-east-1",
		"local-a":                 "",
		"us-east-1":               "",
		"us-east-1A":              "",
		"":                        "",
	} {
		got, ok := RegionOfZone(zone)
		if got != want || ok != (want != "") {
			t.Errorf("RegionOfZone(%q) = %q, %v; want %q", zone, got, ok, want)
		}
	}
}
