package awstest

import (
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

type instance struct {
	id                      string
	vpc, subnet, zone       string
	imageID, instanceType   string
	state                   string // pending, running, shutting-down, terminated
	launched                time.Time
	privateIP, publicIP     string
	sgs                     []string
	lt                      string
	ltVersion               int
	asg                     string // "" when not (or no longer) in a group
	userData, profile       string
	keyName                 string
	noSourceDestCheck       bool // ModifyInstanceAttribute SourceDestCheck=false
	httpTokens              string
	shutdownStep, termsStep int
	registered              bool // with its group's target groups
	shutdownBehavior        string
	powersOff               bool // its user-data script powers it off (see scriptPowersOff)
	runSteps                int  // reconciles spent running, while powersOff
}

// InstanceEvent is one change of a machine, as the emulator made it: a
// state (pending, running, shutting-down, terminated) or "detached".
type InstanceEvent struct {
	Time  time.Time
	ID    string
	Group string // its autoscaling group at the time, "" when none
	State string
}

// InstanceEvents returns every machine change so far, oldest first, so a
// test can check what was up when a call was made.
func (s *Server) InstanceEvents() []InstanceEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]InstanceEvent(nil), s.ec2.events...)
}

func (s *Server) instanceEvent(id, group, state string) {
	s.ec2.events = append(s.ec2.events, InstanceEvent{Time: s.now(), ID: id, Group: group, State: state})
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

// launchInstance starts a machine from a launch template version in a
// subnet, tagged as EC2 and Auto Scaling tag their machines.
func (s *Server) launchInstance(ltID string, v *ltVersion, subnetID string, extraTags map[string]string) string {
	sn := s.ec2.subnets[subnetID]
	id := s.nextID("i")
	sn.nextHost++
	addr := sn.cidr.Addr()
	for i := 0; i < 3+sn.nextHost; i++ {
		addr = addr.Next()
	}
	inst := &instance{
		id: id, vpc: sn.vpc, subnet: subnetID, zone: sn.zone, imageID: v.data.imageID, instanceType: v.data.instanceType,
		state: "pending", launched: s.now(), privateIP: addr.String(), sgs: v.data.securityGroups,
		lt: ltID, ltVersion: v.number, userData: v.data.userData, profile: v.data.profileName, httpTokens: v.data.httpTokens,
		keyName: v.data.keyName,
	}
	if sn.mapPublicIP {
		inst.publicIP = fmt.Sprintf("198.18.%d.%d", (s.seq>>8)&0xff, s.seq&0xff)
	}
	for _, ts := range v.data.tagSpecs {
		if ts.resourceType == "instance" {
			for k, val := range ts.tags {
				s.setTag(id, k, val)
			}
		}
	}
	for k, val := range extraTags {
		s.setTag(id, k, val)
	}
	s.setTag(id, "aws:ec2launchtemplate:id", ltID)
	s.setTag(id, "aws:ec2launchtemplate:version", strconv.Itoa(v.number))
	s.ec2.instances[id] = inst
	s.instanceEvent(id, extraTags["aws:autoscaling:groupName"], inst.state)
	return id
}

// beginTerminate starts shutting a machine down.
func (s *Server) beginTerminate(inst *instance) {
	if inst.state == "shutting-down" || inst.state == "terminated" {
		return
	}
	inst.state = "shutting-down"
	inst.shutdownStep = s.step
	s.instanceEvent(inst.id, inst.asg, inst.state)
}

// stepInstancesLocked moves instances on: pending ones run, shutting-down
// ones terminate after TerminationSteps reconciles (leaving their group and
// target groups), terminated ones are forgotten a step later.
func (s *Server) stepInstancesLocked() {
	for _, id := range sortedKeys(s.ec2.instances) {
		inst := s.ec2.instances[id]
		switch inst.state {
		case "pending":
			inst.state = "running"
			s.instanceEvent(id, inst.asg, inst.state)
		case "running":
			s.stepPowerOffLocked(inst)
		case "stopping":
			inst.state = "stopped"
			s.instanceEvent(id, inst.asg, inst.state)
		case "shutting-down":
			if s.step-inst.shutdownStep >= s.opts.TerminationSteps {
				inst.state = "terminated"
				inst.termsStep = s.step
				s.instanceEvent(id, inst.asg, inst.state)
				inst.asg = ""
				s.elb.deregisterEverywhere(id)
			}
		case "terminated":
			if s.step > inst.termsStep+1 {
				delete(s.ec2.instances, id)
				s.forget(id)
			}
		}
	}
}

func (s *Server) renderInstance(id string, i *instance) x {
	var groups []x
	for _, g := range i.sgs {
		name := ""
		if sg := s.ec2.sgs[g]; sg != nil {
			name = sg.name
		}
		groups = append(groups, el("item", txt("groupId", g), opt("groupName", name)))
	}
	ip := netip.MustParseAddr(i.privateIP).As4()
	kids := []x{
		txt("instanceId", id), txt("imageId", i.imageID),
		el("instanceState", num("code", stateCodes[i.state]), txt("name", i.state)),
		txt("privateDnsName", fmt.Sprintf("ip-%d-%d-%d-%d.ec2.internal", ip[0], ip[1], ip[2], ip[3])),
		txt("privateIpAddress", i.privateIP), opt("ipAddress", i.publicIP), num("amiLaunchIndex", 0),
		txt("instanceType", i.instanceType), txt("launchTime", isoTime(i.launched)),
		el("placement", txt("availabilityZone", i.zone), txt("tenancy", "default")),
		txt("subnetId", i.subnet), txt("vpcId", i.vpc), list("groupSet", "item", groups),
		txt("architecture", "x86_64"), txt("rootDeviceType", "ebs"), txt("virtualizationType", "hvm"), txt("hypervisor", "xen"),
		opt("keyName", i.keyName), boolean("sourceDestCheck", !i.noSourceDestCheck), ec2Tags(s.ec2.tags[id]),
	}
	if i.profile != "" {
		kids = append(kids, el("iamInstanceProfile", txt("arn", profileArn(i.profile)), txt("id", "AIPA"+id[2:])))
	}
	if i.httpTokens != "" {
		kids = append(kids, el("metadataOptions", txt("httpTokens", i.httpTokens), txt("state", "applied")))
	}
	return el("item", kids...)
}

func (s *Server) describeInstances(p params) ([]x, *apiError) {
	if p.str("MaxResults") != "" && len(p.list("InstanceId")) > 0 {
		return nil, newErr(http.StatusBadRequest, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	items, err := describe(s, p, "InstanceId", s.ec2.instances, func(id string, i *instance) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "instance-id":
				return []string{id}, true
			case "instance-state-name":
				return []string{i.state}, true
			case "subnet-id":
				return []string{i.subnet}, true
			case "vpc-id":
				return []string{i.vpc}, true
			case "image-id":
				return []string{i.imageID}, true
			case "instance-type":
				return []string{i.instanceType}, true
			case "private-ip-address":
				return []string{i.privateIP}, true
			case "availability-zone":
				return []string{i.zone}, true
			}
			return nil, false
		}
	}, func(id string, i *instance) x {
		return el("item", txt("reservationId", "r-"+id[2:]), txt("ownerId", Account), list("groupSet", "item", nil),
			list("instancesSet", "item", []x{s.renderInstance(id, i)}))
	}, "InvalidInstanceID.NotFound")
	if err != nil {
		return nil, err
	}
	return s.ec2Page(p, "reservationSet", items, 5, 1000)
}

func (s *Server) terminateInstances(p params) ([]x, *apiError) {
	ids := p.list("InstanceId")
	for _, id := range ids {
		if s.ec2.instances[id] == nil {
			return nil, newErr(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
	}
	var items []x
	for _, id := range ids {
		inst := s.ec2.instances[id]
		prev := inst.state
		s.beginTerminate(inst)
		items = append(items, el("item", txt("instanceId", id),
			el("currentState", num("code", stateCodes[inst.state]), txt("name", inst.state)),
			el("previousState", num("code", stateCodes[prev]), txt("name", prev))))
	}
	return []x{list("instancesSet", "item", items)}, nil
}

// Instance is what tests see of a machine.
type Instance struct {
	ID, State, Group, Subnet, PrivateIP string
	KeyName                             string
	SourceDestCheck                     bool
	LaunchTemplateVersion               int
	UserData                            string // base64, as launched
	Tags                                map[string]string
}

// Instances lists the machines that are not terminated, by id.
func (s *Server) Instances() []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Instance
	for _, id := range sortedKeys(s.ec2.instances) {
		i := s.ec2.instances[id]
		if i.state == "terminated" {
			continue
		}
		out = append(out, Instance{ID: id, State: i.state, Group: i.asg, Subnet: i.subnet, PrivateIP: i.privateIP,
			LaunchTemplateVersion: i.ltVersion, UserData: i.userData, Tags: maps.Clone(s.ec2.tags[id]),
			KeyName: i.keyName, SourceDestCheck: !i.noSourceDestCheck})
	}
	return out
}
