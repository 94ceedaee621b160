package awstest

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

type keyPair struct {
	name, typ, fingerprint string
	created                time.Time
}

// importKeyPair takes an OpenSSH public key line, as EC2 does
// (PublicKeyMaterial is its base64), and refuses a duplicate name.
func (s *Server) importKeyPair(p params) ([]x, *apiError) {
	name := p.str("KeyName")
	if name == "" || len(name) > 255 {
		return nil, errInvalidParameter("KeyName must be 1 to 255 characters")
	}
	for _, k := range s.ec2.keys {
		if k.name == name {
			return nil, newErr(http.StatusBadRequest, "InvalidKeyPair.Duplicate", "The keypair already exists")
		}
	}
	raw, err := base64.StdEncoding.DecodeString(p.str("PublicKeyMaterial"))
	if err != nil {
		return nil, errInvalidParameter("PublicKeyMaterial is not base64")
	}
	fields := strings.Fields(string(raw))
	if len(fields) < 2 {
		return nil, newErr(http.StatusBadRequest, "InvalidKey.Format", "Key is not in valid OpenSSH public key format")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return nil, newErr(http.StatusBadRequest, "InvalidKey.Format", "Key is not in valid OpenSSH public key format")
	}
	typ := map[string]string{"ssh-rsa": "rsa", "ssh-ed25519": "ed25519"}[fields[0]]
	if typ == "" {
		return nil, newErr(http.StatusBadRequest, "InvalidKey.Format", "Key type %s is not supported", fields[0])
	}
	sum := md5.Sum(blob)
	var fp []string
	for _, b := range sum {
		fp = append(fp, fmt.Sprintf("%02x", b))
	}
	id := s.nextID("key")
	if aerr := s.tagSpecs(p, "key-pair", id); aerr != nil {
		return nil, aerr
	}
	k := &keyPair{name: name, typ: typ, fingerprint: strings.Join(fp, ":"), created: s.now()}
	s.ec2.keys[id] = k
	return []x{txt("keyFingerprint", k.fingerprint), txt("keyName", name), txt("keyPairId", id), ec2Tags(s.ec2.tags[id])}, nil
}

func (s *Server) describeKeyPairs(p params) ([]x, *apiError) {
	byName := map[string]string{}
	for id, k := range s.ec2.keys {
		byName[k.name] = id
	}
	ids := p.list("KeyPairId")
	for _, n := range p.list("KeyName") {
		id, ok := byName[n]
		if !ok {
			return nil, newErr(http.StatusBadRequest, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist", n)
		}
		ids = append(ids, id)
	}
	q := params{v: map[string][]string{}}
	for i, id := range ids {
		q.v[fmt.Sprintf("KeyPairId.%d", i+1)] = []string{id}
	}
	for k, v := range p.v {
		if strings.HasPrefix(k, "Filter.") {
			q.v[k] = v
		}
	}
	items, aerr := describe(s, q, "KeyPairId", s.ec2.keys, func(id string, k *keyPair) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "key-name":
				return []string{k.name}, true
			case "key-pair-id":
				return []string{id}, true
			case "fingerprint":
				return []string{k.fingerprint}, true
			}
			return nil, false
		}
	}, func(id string, k *keyPair) x {
		return el("item", txt("keyPairId", id), txt("keyFingerprint", k.fingerprint), txt("keyName", k.name), txt("keyType", k.typ),
			txt("createTime", isoTime(k.created)), ec2Tags(s.ec2.tags[id]))
	}, "InvalidKeyPair.NotFound")
	if aerr != nil {
		return nil, aerr
	}
	return []x{list("keySet", "item", items)}, nil
}

// deleteKeyPair succeeds for a key that does not exist, as EC2 does.
func (s *Server) deleteKeyPair(p params) ([]x, *apiError) {
	for id, k := range s.ec2.keys {
		if id == p.str("KeyPairId") || (p.str("KeyPairId") == "" && k.name == p.str("KeyName")) {
			delete(s.ec2.keys, id)
			s.forget(id)
		}
	}
	return []x{boolean("return", true)}, nil
}

// AddKeyPair registers a key pair made outside hull (spec.sshKeyName's)
// and returns its id.
func (s *Server) AddKeyPair(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID("key")
	s.ec2.keys[id] = &keyPair{name: name, typ: "ed25519", fingerprint: "external", created: s.now()}
	return id
}

// KeyPairs lists the key pairs by name, with the cluster they are tagged for.
func (s *Server) KeyPairs() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for id, k := range s.ec2.keys {
		out[k.name] = s.ec2.tags[id]["hull.dev/cluster"]
	}
	return out
}

// modifyInstanceAttribute sets the attributes hull changes: the
// source/destination check (SourceDestCheck.Value).
func (s *Server) modifyInstanceAttribute(p params) ([]x, *apiError) {
	id := p.str("InstanceId")
	inst := s.ec2.instances[id]
	if inst == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	switch {
	case p.has("SourceDestCheck.Value"):
		inst.noSourceDestCheck = !p.bool("SourceDestCheck.Value")
	default:
		return nil, errInvalidParameter("awsemu only modifies SourceDestCheck")
	}
	return []x{boolean("return", true)}, nil
}

func (s *Server) describeInstanceAttribute(p params) ([]x, *apiError) {
	id := p.str("InstanceId")
	inst := s.ec2.instances[id]
	if inst == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	if p.str("Attribute") != "sourceDestCheck" {
		return nil, errInvalidParameter("awsemu only describes sourceDestCheck")
	}
	return []x{txt("instanceId", id), el("sourceDestCheck", boolean("value", !inst.noSourceDestCheck))}, nil
}
