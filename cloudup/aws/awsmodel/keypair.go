package awsmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// KeyPair is the EC2 key pair the cluster's machines accept for SSH:
// spec.sshKeyName as it is, or spec.sshPublicKey imported under a name
// of the cluster's. The zero value is none.
type KeyPair struct {
	Name string
	// PublicKey is the OpenSSH key hull imports; "" for an existing key
	// pair, which hull never creates, changes or deletes.
	PublicKey string
	Tags      map[string]string
}

// Imported reports whether hull imports the key pair (and so owns it).
func (k KeyPair) Imported() bool { return k.PublicKey != "" }

// KeyPairName names an imported key: "hull.<cluster>-<16 hex digits of the
// key's sha256>", so another key gets another pair (and the launch
// templates a new version) while the comment does not count.
func KeyPairName(cluster, publicKey string) string {
	f := strings.Fields(publicKey)
	if len(f) > 2 {
		f = f[:2]
	}
	sum := sha256.Sum256([]byte(strings.Join(f, " ")))
	return limit("hull."+cluster, 255-17) + "-" + hex.EncodeToString(sum[:])[:16]
}

func keyPair(c *v1alpha1.Cluster, tags map[string]string) KeyPair {
	switch {
	case c.Spec.SSHKeyName != "":
		return KeyPair{Name: c.Spec.SSHKeyName}
	case c.Spec.SSHPublicKey != "":
		name := KeyPairName(c.Metadata.Name, c.Spec.SSHPublicKey)
		return KeyPair{Name: name, PublicKey: strings.TrimSpace(c.Spec.SSHPublicKey),
			Tags: withTags(tags, TagName, name)}
	}
	return KeyPair{}
}
