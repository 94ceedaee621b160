package aws

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

var specPath = field.NewPath("spec")

// sshKeyTypes are the OpenSSH key types EC2 imports.
var sshKeyTypes = []string{"ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"}

// validateSpec checks what an aws cluster adds to a spec: the AWS zones
// (one region), the Route 53 zone and the SSH key pair.
func validateSpec(c *v1alpha1.Cluster) field.ErrorList {
	s := &c.Spec
	var errs field.ErrorList
	errs = append(errs, validateAWSZones(s.Networking.Subnets, specPath.Child("networking", "subnets"))...)
	errs = append(errs, validateDNSZone(s)...)
	if s.SSHKeyName != "" {
		p := specPath.Child("sshKeyName")
		if len(s.SSHKeyName) > 255 || strings.IndexFunc(s.SSHKeyName, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
			errs = append(errs, field.Invalid(p, s.SSHKeyName, "must be the name of an EC2 key pair: at most 255 printable ASCII characters"))
		}
		if s.SSHPublicKey != "" {
			errs = append(errs, field.Forbidden(specPath.Child("sshPublicKey"), "set either sshKeyName (an existing key pair) or sshPublicKey (imported by hull), not both"))
		}
	}
	if s.SSHPublicKey != "" {
		if err := CheckSSHPublicKey(s.SSHPublicKey); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("sshPublicKey"), truncate(s.SSHPublicKey, 40), err.Error()))
		}
	}
	return errs
}

// validateAWSZones requires AWS zone names, all in one region: a cluster
// lives in one region, which hull takes from its zones.
func validateAWSZones(subnets []v1alpha1.SubnetSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	first, firstZone := "", ""
	for i, sn := range subnets {
		if sn.Zone == "" {
			continue // reported as required
		}
		p := path.Index(i).Child("zone")
		region, ok := awsmodel.RegionOfZone(sn.Zone)
		switch {
		case !ok:
			errs = append(errs, field.Invalid(p, sn.Zone, "must be an AWS zone such as us-east-1a"))
		case first == "":
			first, firstZone = region, sn.Zone
		case region != first:
			errs = append(errs, field.Invalid(p, sn.Zone,
				fmt.Sprintf("is in region %s, but zone %s is in %s: a cluster's zones must share one region", region, firstZone, first)))
		}
	}
	return errs
}

// validateDNSZone accepts a hosted zone id or name; with a name, the API's
// public name must lie inside it.
func validateDNSZone(s *v1alpha1.ClusterSpec) field.ErrorList {
	zone := s.DNSZone
	if zone == "" || awsmodel.IsHostedZoneID(zone) {
		return nil
	}
	p := specPath.Child("dnsZone")
	name := strings.ToLower(strings.TrimSuffix(zone, "."))
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return field.ErrorList{field.Invalid(p, zone, "must be a Route 53 hosted zone id (Z0123456789ABC) or name (example.com): "+strings.Join(msgs, "; "))}
	}
	pub := strings.ToLower(strings.TrimSuffix(s.API.PublicName, "."))
	if pub != "" && pub != name && !strings.HasSuffix(pub, "."+name) {
		return field.ErrorList{field.Invalid(specPath.Child("api", "publicName"), s.API.PublicName,
			fmt.Sprintf("must be inside spec.dnsZone %s, which holds its record", name))}
	}
	return nil
}

// CheckSSHPublicKey accepts one OpenSSH public key line of a type EC2
// imports: "<type> <base64 blob> [comment]", the blob naming the same type.
func CheckSSHPublicKey(key string) error {
	key = strings.TrimSpace(key)
	if strings.Contains(key, "PRIVATE KEY") {
		return fmt.Errorf("is a private key; give the public key (the .pub file)")
	}
	if strings.ContainsAny(key, "\r\n") {
		return fmt.Errorf("must be a single OpenSSH public key line")
	}
	fields := strings.Fields(key)
	if len(fields) < 2 {
		return fmt.Errorf("must be an OpenSSH public key such as \"ssh-ed25519 AAAA... user@host\"")
	}
	typ := fields[0]
	if !slices.Contains(sshKeyTypes, typ) {
		return fmt.Errorf("key type %q is not one EC2 imports (%s)", typ, strings.Join(sshKeyTypes, ", "))
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return fmt.Errorf("key data is not base64: %v", err)
	}
	if len(blob) < 4 {
		return fmt.Errorf("key data is too short")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || !bytes.Equal(blob[4:4+n], []byte(typ)) {
		return fmt.Errorf("key data does not hold a %s key", typ)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
