package awstest

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"strings"
)

// The account's default VPC, where RunInstances without a subnet puts a
// machine. It is modelled only as far as such a machine needs (ids and an
// address); it is not a resource a cluster can leave behind.
const (
	defaultVPC    = "vpc-0default000000000"
	defaultSubnet = "subnet-0default00000000"
	defaultZone   = Region + "a"
)

// A machine launched by RunInstances whose user-data is a script that
// ends by powering off (an image builder's) is not run, of course: the
// emulator plays its end, powering the machine off PowerOffSteps
// reconciles after it starts running. With InstanceInitiatedShutdownBehavior
// stop it then stops, otherwise it terminates, as on EC2.
func scriptPowersOff(userData string) bool {
	b, err := base64.StdEncoding.DecodeString(userData)
	return err == nil && strings.HasPrefix(string(b), "#!") && strings.Contains(string(b), "\npoweroff")
}

func (s *Server) runInstances(p params) ([]x, *apiError) {
	imageID := p.str("ImageId")
	im := s.ec2.images[imageID]
	if im == nil || im.state != "available" {
		return nil, newErr(http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", imageID)
	}
	min, aerr := p.int("MinCount", 0)
	if aerr != nil {
		return nil, aerr
	}
	max, aerr := p.int("MaxCount", 0)
	if aerr != nil {
		return nil, aerr
	}
	if min != 1 || max != 1 {
		return nil, errInvalidParameter("awsemu launches one instance per RunInstances (MinCount=MaxCount=1), got %d..%d", min, max)
	}
	ud := p.str("UserData")
	if ud != "" {
		if _, err := base64.StdEncoding.DecodeString(ud); err != nil {
			return nil, errInvalidParameter("Invalid BASE64 encoding of user data.")
		}
	}
	behavior := p.str("InstanceInitiatedShutdownBehavior")
	switch behavior {
	case "", "stop", "terminate":
	default:
		return nil, errInvalidParameter("Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid", behavior)
	}
	subnetID := p.str("SubnetId")
	id := s.nextID("i")
	inst := &instance{id: id, imageID: imageID, instanceType: p.str("InstanceType"), state: "pending", launched: s.now(),
		userData: ud, profile: p.str("IamInstanceProfile.Name"), httpTokens: p.str("MetadataOptions.HttpTokens"),
		shutdownBehavior: behavior, sgs: p.list("SecurityGroupId")}
	if subnetID == "" {
		inst.vpc, inst.subnet, inst.zone = defaultVPC, defaultSubnet, defaultZone
		inst.privateIP = fmt.Sprintf("172.31.%d.%d", (s.seq>>8)&0xff, s.seq&0xff)
	} else {
		sn := s.ec2.subnets[subnetID]
		if sn == nil {
			return nil, newErr(http.StatusBadRequest, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", subnetID)
		}
		sn.nextHost++
		addr := sn.cidr.Addr()
		for i := 0; i < 3+sn.nextHost; i++ {
			addr = addr.Next()
		}
		inst.vpc, inst.subnet, inst.zone, inst.privateIP = sn.vpc, subnetID, sn.zone, addr.String()
	}
	if scriptPowersOff(ud) {
		inst.powersOff = true
	}
	if aerr := s.tagSpecs(instanceTagSpecs(p), "instance", id); aerr != nil {
		return nil, aerr
	}
	s.ec2.instances[id] = inst
	s.instanceEvent(id, "", inst.state)
	return []x{txt("reservationId", "r-"+id[2:]), txt("ownerId", Account), list("groupSet", "item", nil),
		list("instancesSet", "item", []x{s.renderInstance(id, inst)})}, nil
}

// instanceTagSpecs keeps the instance tag specifications of a
// RunInstances (volume ones are accepted and dropped: volumes are not modelled).
func instanceTagSpecs(p params) params {
	v := map[string][]string{}
	n := 0
	for _, ts := range p.structs("TagSpecification") {
		if ts.str("ResourceType") != "instance" {
			continue
		}
		n++
		v[fmt.Sprintf("TagSpecification.%d.ResourceType", n)] = []string{"instance"}
		for i, t := range ts.structs("Tag") {
			v[fmt.Sprintf("TagSpecification.%d.Tag.%d.Key", n, i+1)] = []string{t.str("Key")}
			v[fmt.Sprintf("TagSpecification.%d.Tag.%d.Value", n, i+1)] = []string{t.str("Value")}
		}
	}
	return params{v: v}
}

// stepPowerOffLocked plays a builder script's last line for the machines
// whose script has had PowerOffSteps reconciles to run.
func (s *Server) stepPowerOffLocked(inst *instance) {
	if !inst.powersOff || inst.state != "running" {
		return
	}
	inst.runSteps++
	if inst.runSteps < s.opts.PowerOffSteps {
		return
	}
	inst.powersOff = false
	if inst.shutdownBehavior == "stop" {
		inst.state = "stopping"
		s.instanceEvent(inst.id, inst.asg, inst.state)
		return
	}
	s.beginTerminate(inst)
}

func (s *Server) createImage(p params) ([]x, *apiError) {
	instID := p.str("InstanceId")
	inst := s.ec2.instances[instID]
	if inst == nil || inst.state == "terminated" || inst.state == "shutting-down" {
		return nil, newErr(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", instID)
	}
	if inst.state != "running" && inst.state != "stopped" {
		return nil, newErr(http.StatusBadRequest, "IncorrectState", "Instance '%s' is not in a state from which it can be imaged (%s)", instID, inst.state)
	}
	name := p.str("Name")
	if len(name) < 3 || len(name) > 128 {
		return nil, errInvalidParameter("AMI names must be between 3 and 128 characters long, got %q", name)
	}
	for _, im := range s.ec2.images {
		if im.owner == Account && im.name == name {
			return nil, newErr(http.StatusBadRequest, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI", name)
		}
	}
	id := s.nextID("ami")
	root := "/dev/xvda"
	if src := s.ec2.images[inst.imageID]; src != nil {
		root = src.rootDevice
	}
	for _, ts := range p.structs("TagSpecification") {
		if ts.str("ResourceType") != "image" {
			continue
		}
		for _, t := range ts.structs("Tag") {
			s.setTag(id, t.str("Key"), t.str("Value"))
		}
	}
	s.ec2.images[id] = &image{name: name, rootDevice: root, created: s.now(), owner: Account, state: "pending"}
	return []x{txt("imageId", id)}, nil
}

// stepImagesLocked makes pending images available.
func (s *Server) stepImagesLocked() {
	for _, im := range s.ec2.images {
		if im.state == "pending" {
			im.state = "available"
		}
	}
}

// Image is what tests see of an AMI.
type Image struct {
	ID, Name, Owner, State string
	Tags                   map[string]string
}

// Images lists the AMIs, by id.
func (s *Server) Images() []Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Image
	for _, id := range sortedKeys(s.ec2.images) {
		im := s.ec2.images[id]
		out = append(out, Image{ID: id, Name: im.name, Owner: im.owner, State: im.state, Tags: maps.Clone(s.ec2.tags[id])})
	}
	return out
}
