package awstest

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

type asgTag struct {
	value     string
	propagate bool
}

type autoScalingGroup struct {
	ltID, ltVersion         string
	min, max, desired       int
	subnets                 []string
	tags                    map[string]asgTag
	targetGroups            []string
	created                 time.Time
	deleting                bool
	healthCheck             string
	healthCheckGrace        int
	launchFailures          int
	lastLaunchFailureReason string
}

type asgState struct {
	groups map[string]*autoScalingGroup
}

func (a *asgState) init() { a.groups = map[string]*autoScalingGroup{} }

func (a *asgState) leftovers() []string {
	var out []string
	for _, n := range sortedKeys(a.groups) {
		out = append(out, "autoscaling-group "+n)
	}
	return out
}

func (s *Server) asgHandlers() map[string]handler {
	return map[string]handler{
		"CreateAutoScalingGroup": s.createASG, "UpdateAutoScalingGroup": s.updateASG, "DeleteAutoScalingGroup": s.deleteASG,
		"DescribeAutoScalingGroups": s.describeASGs, "DescribeAutoScalingInstances": s.describeASGInstances,
		"SetDesiredCapacity": s.setDesiredCapacity, "CreateOrUpdateTags": s.createOrUpdateASGTags, "DeleteTags": s.deleteASGTags,
		"TerminateInstanceInAutoScalingGroup": s.terminateInASG, "DetachInstances": s.detachInstances,
		"AttachLoadBalancerTargetGroups": s.attachTargetGroups, "DetachLoadBalancerTargetGroups": s.detachTargetGroups,
	}
}

func errValidation(format string, a ...any) *apiError {
	return newErr(http.StatusBadRequest, "ValidationError", format, a...)
}

func asgArn(name string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/%s", Region, Account, name)
}

// groupParams applies the fields Create and Update share.
func (s *Server) groupParams(p params, g *autoScalingGroup) *apiError {
	var aerr *apiError
	if p.has("LaunchTemplate.LaunchTemplateId") || p.has("LaunchTemplate.LaunchTemplateName") {
		id, _, err := s.findLT(p.sub("LaunchTemplate"))
		if err != nil {
			return errValidation("You must use a valid fully-formed launch template. %s", err.message)
		}
		g.ltID, g.ltVersion = id, p.str("LaunchTemplate.Version")
		if g.ltVersion == "" {
			g.ltVersion = "$Default"
		}
	}
	for _, f := range []struct {
		key string
		dst *int
	}{{"MinSize", &g.min}, {"MaxSize", &g.max}, {"DesiredCapacity", &g.desired}, {"HealthCheckGracePeriod", &g.healthCheckGrace}} {
		if *f.dst, aerr = p.int(f.key, *f.dst); aerr != nil {
			return aerr
		}
	}
	if v := p.str("HealthCheckType"); v != "" {
		g.healthCheck = v
	}
	if p.has("VPCZoneIdentifier") {
		g.subnets = nil
		for _, id := range strings.Split(p.str("VPCZoneIdentifier"), ",") {
			id = strings.TrimSpace(id)
			if s.ec2.subnets[id] == nil {
				return errValidation("The subnet ID '%s' does not exist", id)
			}
			g.subnets = append(g.subnets, id)
		}
	}
	switch {
	case g.min > g.max:
		return errValidation("Max bound, %d, must be greater than or equal to min bound, %d", g.max, g.min)
	case g.desired < g.min || g.desired > g.max:
		return errValidation("Desired capacity:%d must be between the specified min size:%d and max size:%d", g.desired, g.min, g.max)
	case len(g.subnets) == 0:
		return errValidation("At least one Availability Zone or VPC Subnet is required.")
	}
	return nil
}

func (s *Server) createASG(p params) ([]x, *apiError) {
	name := p.str("AutoScalingGroupName")
	if s.asg.groups[name] != nil {
		return nil, newErr(http.StatusBadRequest, "AlreadyExists", "AutoScalingGroup by this name already exists - A group with the name %s already exists", name)
	}
	if !p.has("LaunchTemplate.LaunchTemplateId") && !p.has("LaunchTemplate.LaunchTemplateName") {
		return nil, errValidation("Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.")
	}
	g := &autoScalingGroup{created: s.now(), healthCheck: "EC2", tags: map[string]asgTag{}}
	min, aerr := p.int("MinSize", 0)
	if aerr != nil {
		return nil, aerr
	}
	g.desired = min
	if aerr := s.groupParams(p, g); aerr != nil {
		return nil, aerr
	}
	for _, arn := range p.list("TargetGroupARNs") {
		if !s.elb.hasTargetGroup(arn) {
			return nil, errValidation("Provided Target Groups may not be valid. Please ensure they exist and try again.")
		}
		g.targetGroups = append(g.targetGroups, arn)
	}
	for _, t := range p.structs("Tags") {
		g.tags[t.str("Key")] = asgTag{value: t.str("Value"), propagate: t.bool("PropagateAtLaunch")}
	}
	s.asg.groups[name] = g
	return nil, nil
}

func (s *Server) group(name string) (*autoScalingGroup, *apiError) {
	g := s.asg.groups[name]
	if g == nil {
		return nil, errValidation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
	}
	if g.deleting {
		return nil, newErr(http.StatusBadRequest, "ScalingActivityInProgress", "AutoScalingGroup %s is being deleted", name)
	}
	return g, nil
}

func (s *Server) updateASG(p params) ([]x, *apiError) {
	g, aerr := s.group(p.str("AutoScalingGroupName"))
	if aerr != nil {
		return nil, aerr
	}
	next := *g
	next.subnets = slices.Clone(g.subnets)
	// A new min or max pulls the desired capacity along, as AWS does.
	if min, _ := p.int("MinSize", -1); min > next.desired && !p.has("DesiredCapacity") {
		next.desired = min
	}
	if max, _ := p.int("MaxSize", -1); max >= 0 && max < next.desired && !p.has("DesiredCapacity") {
		next.desired = max
	}
	if aerr := s.groupParams(p, &next); aerr != nil {
		return nil, aerr
	}
	*g = next
	return nil, nil
}

func (s *Server) setDesiredCapacity(p params) ([]x, *apiError) {
	g, aerr := s.group(p.str("AutoScalingGroupName"))
	if aerr != nil {
		return nil, aerr
	}
	d, aerr := p.int("DesiredCapacity", g.desired)
	if aerr != nil {
		return nil, aerr
	}
	if d < g.min || d > g.max {
		return nil, errValidation("New SetDesiredCapacity value %d is outside of the group's bounds [%d, %d]", d, g.min, g.max)
	}
	g.desired = d
	return nil, nil
}

func (s *Server) deleteASG(p params) ([]x, *apiError) {
	name := p.str("AutoScalingGroupName")
	g, aerr := s.group(name)
	if aerr != nil {
		return nil, aerr
	}
	members := s.members(name)
	if len(members) > 0 && !p.bool("ForceDelete") {
		return nil, newErr(http.StatusBadRequest, "ResourceInUse", "You cannot delete an AutoScalingGroup while there are instances or pending Spot instance request(s) still in the group.")
	}
	g.deleting = true
	for _, id := range members {
		s.beginTerminate(s.ec2.instances[id])
	}
	if len(members) == 0 {
		delete(s.asg.groups, name)
	}
	return nil, nil
}

// members are the ids of a group's machines that are not terminated.
func (s *Server) members(name string) []string {
	var out []string
	for _, id := range sortedKeys(s.ec2.instances) {
		if i := s.ec2.instances[id]; i.asg == name && i.state != "terminated" {
			out = append(out, id)
		}
	}
	return out
}

var lifecycle = map[string]string{"pending": "Pending", "running": "InService", "shutting-down": "Terminating", "terminated": "Terminated"}

func (s *Server) ltSpec(ltID, version string) x {
	name := ""
	if t := s.ec2.lts[ltID]; t != nil {
		name = t.name
	}
	return el("LaunchTemplate", txt("LaunchTemplateId", ltID), opt("LaunchTemplateName", name), txt("Version", version))
}

func (s *Server) renderASG(name string, g *autoScalingGroup) x {
	var zones, insts, tgs, tags []x
	seen := map[string]bool{}
	for _, sid := range g.subnets {
		if sn := s.ec2.subnets[sid]; sn != nil && !seen[sn.zone] {
			seen[sn.zone] = true
			zones = append(zones, txt("member", sn.zone))
		}
	}
	for _, id := range s.members(name) {
		i := s.ec2.instances[id]
		insts = append(insts, el("member", txt("InstanceId", id), txt("InstanceType", i.instanceType), txt("AvailabilityZone", i.zone),
			txt("LifecycleState", lifecycle[i.state]), txt("HealthStatus", "Healthy"),
			s.ltSpec(i.lt, strconv.Itoa(i.ltVersion)), boolean("ProtectedFromScaleIn", false)))
	}
	for _, arn := range g.targetGroups {
		tgs = append(tgs, txt("member", arn))
	}
	for _, k := range sortedKeys(g.tags) {
		tags = append(tags, el("member", txt("ResourceId", name), txt("ResourceType", "auto-scaling-group"), txt("Key", k),
			txt("Value", g.tags[k].value), boolean("PropagateAtLaunch", g.tags[k].propagate)))
	}
	out := el("member", txt("AutoScalingGroupName", name), txt("AutoScalingGroupARN", asgArn(name)), s.ltSpec(g.ltID, g.ltVersion),
		num("MinSize", g.min), num("MaxSize", g.max), num("DesiredCapacity", g.desired), num("DefaultCooldown", 300),
		list("AvailabilityZones", "member", zones), list("LoadBalancerNames", "member", nil), list("TargetGroupARNs", "member", tgs),
		txt("HealthCheckType", g.healthCheck), num("HealthCheckGracePeriod", g.healthCheckGrace), list("Instances", "member", insts),
		txt("CreatedTime", isoTime(g.created)), txt("VPCZoneIdentifier", strings.Join(g.subnets, ",")),
		list("Tags", "member", tags), list("TerminationPolicies", "member", []x{txt("member", "Default")}),
		boolean("NewInstancesProtectedFromScaleIn", false))
	if g.deleting {
		out.kids = append(out.kids, txt("Status", "Delete in progress"))
	}
	return out
}

func (s *Server) describeASGs(p params) ([]x, *apiError) {
	names := p.list("AutoScalingGroupNames")
	var fs []filter
	for _, f := range p.structs("Filters") {
		fs = append(fs, filter{name: f.str("Name"), values: f.list("Values")})
	}
	var items []x
	for _, name := range sortedKeys(s.asg.groups) {
		g := s.asg.groups[name]
		if !idFilter(names, name) {
			continue
		}
		tags := map[string]string{}
		for k, t := range g.tags {
			tags[k] = t.value
		}
		ok, aerr := matches(fs, tags, func(n string) ([]string, bool) {
			if n == "auto-scaling-group" {
				return []string{name}, true
			}
			return nil, false
		})
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			items = append(items, s.renderASG(name, g))
		}
	}
	size, aerr := p.int("MaxRecords", 0)
	if aerr != nil {
		return nil, aerr
	}
	from, to, next, aerr := s.page(len(items), p.str("NextToken"), 50, 100, size)
	if aerr != nil {
		return nil, aerr
	}
	return []x{list("AutoScalingGroups", "member", items[from:to]), opt("NextToken", next)}, nil
}

func (s *Server) describeASGInstances(p params) ([]x, *apiError) {
	ids := p.list("InstanceIds")
	var items []x
	for _, id := range sortedKeys(s.ec2.instances) {
		i := s.ec2.instances[id]
		if i.asg == "" || i.state == "terminated" || !idFilter(ids, id) {
			continue
		}
		items = append(items, el("member", txt("InstanceId", id), txt("AutoScalingGroupName", i.asg), txt("AvailabilityZone", i.zone),
			txt("LifecycleState", lifecycle[i.state]), txt("HealthStatus", "HEALTHY"), txt("InstanceType", i.instanceType),
			s.ltSpec(i.lt, strconv.Itoa(i.ltVersion)), boolean("ProtectedFromScaleIn", false)))
	}
	size, aerr := p.int("MaxRecords", 0)
	if aerr != nil {
		return nil, aerr
	}
	from, to, next, aerr := s.page(len(items), p.str("NextToken"), 50, 50, size)
	if aerr != nil {
		return nil, aerr
	}
	return []x{list("AutoScalingInstances", "member", items[from:to]), opt("NextToken", next)}, nil
}

func (s *Server) createOrUpdateASGTags(p params) ([]x, *apiError) {
	for _, t := range p.structs("Tags") {
		g, aerr := s.group(t.str("ResourceId"))
		if aerr != nil {
			return nil, aerr
		}
		g.tags[t.str("Key")] = asgTag{value: t.str("Value"), propagate: t.bool("PropagateAtLaunch")}
	}
	return nil, nil
}

func (s *Server) deleteASGTags(p params) ([]x, *apiError) {
	for _, t := range p.structs("Tags") {
		g, aerr := s.group(t.str("ResourceId"))
		if aerr != nil {
			return nil, aerr
		}
		delete(g.tags, t.str("Key"))
	}
	return nil, nil
}

func (s *Server) activity(group, description string) x {
	return el("Activity", txt("ActivityId", fmt.Sprintf("00000000-0000-4000-8000-%012x", s.seq)), txt("AutoScalingGroupName", group),
		txt("Description", description), txt("Cause", "At "+isoTime(s.now())+" a user request was made."),
		txt("StartTime", isoTime(s.now())), txt("StatusCode", "InProgress"), num("Progress", 0))
}

func (s *Server) terminateInASG(p params) ([]x, *apiError) {
	id := p.str("InstanceId")
	inst := s.ec2.instances[id]
	if inst == nil || inst.asg == "" || inst.state == "terminated" {
		return nil, errValidation("Instance Id not found - No managed instance found for instance ID: %s", id)
	}
	g := s.asg.groups[inst.asg]
	if p.bool("ShouldDecrementDesiredCapacity") && inst.state != "shutting-down" {
		if g.desired-1 < g.min {
			return nil, errValidation("Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.min)
		}
		g.desired--
	}
	s.beginTerminate(inst)
	return []x{s.activity(inst.asg, "Terminating EC2 instance: "+id)}, nil
}

func (s *Server) detachInstances(p params) ([]x, *apiError) {
	name := p.str("AutoScalingGroupName")
	g, aerr := s.group(name)
	if aerr != nil {
		return nil, aerr
	}
	if !p.has("ShouldDecrementDesiredCapacity") {
		return nil, errValidation("ShouldDecrementDesiredCapacity is required")
	}
	ids := p.list("InstanceIds")
	for _, id := range ids {
		i := s.ec2.instances[id]
		if i == nil || i.asg != name {
			return nil, errValidation("The instance %s is not part of Auto Scaling group %s.", id, name)
		}
		if i.state != "running" {
			return nil, errValidation("The instance %s is not in InService.", id)
		}
	}
	if p.bool("ShouldDecrementDesiredCapacity") {
		if g.desired-len(ids) < g.min {
			return nil, errValidation("The number of instances to detach would violate the group's min size (%d).", g.min)
		}
		g.desired -= len(ids)
	}
	var acts []x
	for _, id := range ids {
		s.ec2.instances[id].asg = ""
		s.instanceEvent(id, name, "detached")
		for _, tg := range g.targetGroups {
			s.elb.deregister(tg, id)
		}
		a := s.activity(name, "Detaching EC2 instance: "+id)
		acts = append(acts, a)
	}
	return []x{list("Activities", "member", acts)}, nil
}

func (s *Server) attachTargetGroups(p params) ([]x, *apiError) {
	name := p.str("AutoScalingGroupName")
	g, aerr := s.group(name)
	if aerr != nil {
		return nil, aerr
	}
	for _, arn := range p.list("TargetGroupARNs") {
		if !s.elb.hasTargetGroup(arn) {
			return nil, errValidation("Provided Target Groups may not be valid. Please ensure they exist and try again.")
		}
		if !slices.Contains(g.targetGroups, arn) {
			g.targetGroups = append(g.targetGroups, arn)
		}
		for _, id := range s.members(name) {
			if s.ec2.instances[id].state == "running" {
				s.elb.register(arn, id)
			}
		}
	}
	return nil, nil
}

func (s *Server) detachTargetGroups(p params) ([]x, *apiError) {
	name := p.str("AutoScalingGroupName")
	g, aerr := s.group(name)
	if aerr != nil {
		return nil, aerr
	}
	for _, arn := range p.list("TargetGroupARNs") {
		g.targetGroups = slices.DeleteFunc(g.targetGroups, func(a string) bool { return a == arn })
		for _, id := range s.members(name) {
			s.elb.deregister(arn, id)
		}
	}
	return nil, nil
}

// stepGroupsLocked brings every group to its desired capacity: it launches
// machines from the group's launch template version into its least used
// subnet, or terminates the surplus (oldest template version first, then
// the newest machine), and removes groups being deleted once empty.
func (s *Server) stepGroupsLocked() {
	for _, name := range sortedKeys(s.asg.groups) {
		g := s.asg.groups[name]
		members := s.members(name)
		if g.deleting {
			if len(members) == 0 {
				delete(s.asg.groups, name)
			}
			continue
		}
		var live []string
		perSubnet := map[string]int{}
		for _, id := range members {
			i := s.ec2.instances[id]
			if i.state == "pending" || i.state == "running" {
				live = append(live, id)
				perSubnet[i.subnet]++
			}
			if i.state == "running" && !i.registered {
				// Auto Scaling registers a machine with the group's target
				// groups once, when it comes into service.
				i.registered = true
				for _, tg := range g.targetGroups {
					s.elb.register(tg, id)
				}
			}
		}
		for n := len(live); n < g.desired; n++ {
			t := s.ec2.lts[g.ltID]
			var v *ltVersion
			if t != nil {
				v = t.version(g.ltVersion)
			}
			if v == nil {
				g.launchFailures++
				g.lastLaunchFailureReason = "launch template " + g.ltID + " version " + g.ltVersion + " does not exist"
				break
			}
			subnet := g.subnets[0]
			for _, sid := range g.subnets {
				if perSubnet[sid] < perSubnet[subnet] {
					subnet = sid
				}
			}
			if s.ec2.subnets[subnet] == nil {
				g.launchFailures++
				break
			}
			tags := map[string]string{"aws:autoscaling:groupName": name}
			for k, t := range g.tags {
				if t.propagate {
					tags[k] = t.value
				}
			}
			id := s.launchInstance(g.ltID, v, subnet, tags)
			s.ec2.instances[id].asg = name
			perSubnet[subnet]++
		}
		if len(live) > g.desired {
			sort.SliceStable(live, func(a, b int) bool {
				ia, ib := s.ec2.instances[live[a]], s.ec2.instances[live[b]]
				if ia.ltVersion != ib.ltVersion {
					return ia.ltVersion < ib.ltVersion
				}
				return live[a] > live[b]
			})
			for _, id := range live[:len(live)-g.desired] {
				s.beginTerminate(s.ec2.instances[id])
			}
		}
	}
}
