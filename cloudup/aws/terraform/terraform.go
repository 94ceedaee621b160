package terraform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hullproject/hull/cloudup/aws/awsmodel"
	"github.com/hullproject/hull/pkg/apis/v1alpha1"
	"github.com/hullproject/hull/pkg/cloud"
)

// Files WriteTerraform writes, besides data/<launch template>_user_data.
const (
	FileProvider      = "provider.tf.json"
	FileNetwork       = "network.tf.json"
	FileSecurity      = "security.tf.json"
	FileIAM           = "iam.tf.json"
	FileCompute       = "compute.tf.json"
	FileLoadBalancer  = "loadbalancer.tf.json"
	DataDir           = "data"
	userDataFileTempl = "%s_user_data"
)

// doc is one .tf.json document: block type -> type -> name -> body.
type doc map[string]any

func (d doc) add(block, typ, name string, body any) {
	types, _ := d[block].(map[string]any)
	if types == nil {
		types = map[string]any{}
		d[block] = types
	}
	names, _ := types[typ].(map[string]any)
	if names == nil {
		names = map[string]any{}
		types[typ] = names
	}
	names[name] = body
}

func (d doc) resource(typ, name string, body map[string]any) { d.add("resource", typ, name, body) }

// ref is a Terraform interpolation of another resource's attribute.
func ref(typ, name, attr string) string { return fmt.Sprintf("${%s.%s.%s}", typ, name, attr) }

var unsafe = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// tfName makes a Terraform resource name from an AWS name.
func tfName(s string) string {
	s = unsafe.ReplaceAllString(s, "-")
	if s == "" || (s[0] >= '0' && s[0] <= '9') || s[0] == '-' {
		s = "r" + s
	}
	return s
}

// WriteTerraform writes Terraform JSON for the AWS resources of a
// completed cluster (the same model the aws provider applies) into dir:
// one file per concern plus the user-data of each group under data/.
// userData is each group's user-data, by group name, as cloudup makes it.
// Every resource is tagged with owner, the cluster's identity, as
// --target direct tags it. The output is deterministic: maps are written
// with sorted keys.
func WriteTerraform(dir string, cluster *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, userData map[string][]byte, owner cloud.Owner) error {
	files, data, err := Render(cluster, igs, userData, owner)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, DataDir), 0o755); err != nil {
		return fmt.Errorf("terraform output %s: %w", dir, err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			return fmt.Errorf("write terraform file %s: %w", name, err)
		}
	}
	for name, body := range data {
		if err := os.WriteFile(filepath.Join(dir, DataDir, name), body, 0o644); err != nil {
			return fmt.Errorf("write user-data file %s: %w", name, err)
		}
	}
	return removeStaleUserData(filepath.Join(dir, DataDir), data)
}

// removeStaleUserData deletes the user-data of groups that no longer
// exist, left by an earlier run into the same directory, so the directory
// is exactly the configuration of the cluster as it is now.
func removeStaleUserData(dir string, keep map[string][]byte) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("terraform output %s: %w", dir, err)
	}
	for _, e := range entries {
		if _, ok := keep[e.Name()]; ok || e.IsDir() || !strings.HasSuffix(e.Name(), "_user_data") {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove stale user-data file %s: %w", e.Name(), err)
		}
	}
	return nil
}

// Render returns the .tf.json files and the data files by name.
func Render(c *v1alpha1.Cluster, igs []*v1alpha1.InstanceGroup, userData map[string][]byte, owner cloud.Owner) (files, data map[string][]byte, err error) {
	if c.Spec.CloudProvider != v1alpha1.CloudAWS {
		return nil, nil, fmt.Errorf("terraform: cluster %s is for cloud %q, not aws", c.Metadata.Name, c.Spec.CloudProvider)
	}
	if c.Spec.DNSZone == "" {
		return nil, nil, fmt.Errorf("terraform: cluster %s: %w", c.Metadata.Name, ErrNeedsDNSZone)
	}
	m, err := awsmodel.Build(c, owner)
	if err != nil {
		return nil, nil, fmt.Errorf("terraform: cluster %s: %w", c.Metadata.Name, err)
	}
	w := &writer{m: m, zone: c.Spec.DNSZone, docs: map[string]doc{}, data: map[string][]byte{}}
	w.provider(c)
	w.network()
	w.security()
	if err := w.compute(igs, userData); err != nil {
		return nil, nil, err
	}
	w.loadBalancer()
	files = map[string][]byte{}
	for name, d := range w.docs {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			return nil, nil, fmt.Errorf("terraform: encode %s: %w", name, err)
		}
		files[name] = buf.Bytes()
	}
	return files, w.data, nil
}

// ErrNeedsDNSZone: the machines `terraform apply` launches find the API
// at spec.api.publicName, which only a Route 53 zone hull knows of can hold;
// the load balancer's own name is unknown until Terraform makes it.
var ErrNeedsDNSZone = errors.New("spec.dnsZone is required with --target terraform: machines reach the API at " +
	"spec.api.publicName, an alias in that Route 53 zone, since the load balancer's own DNS name is known only after terraform apply")

type writer struct {
	m    *awsmodel.Cluster
	zone string // spec.dnsZone
	docs map[string]doc
	data map[string][]byte
}

func (w *writer) doc(file string) doc {
	if w.docs[file] == nil {
		w.docs[file] = doc{}
	}
	return w.docs[file]
}

func (w *writer) provider(c *v1alpha1.Cluster) {
	d := w.doc(FileProvider)
	d["terraform"] = map[string]any{"required_providers": map[string]any{
		"aws": map[string]any{"source": "hashicorp/aws", "version": ">= 5.40.0"}}}
	d["provider"] = map[string]any{"aws": map[string]any{"region": awsmodel.Region(c)}}
}

// vpcID is the VPC as Terraform refers to it.
func (w *writer) vpcID() string {
	if w.m.VPC.ID != "" {
		return w.m.VPC.ID
	}
	return ref("aws_vpc", tfName(w.m.Name), "id")
}

func (w *writer) subnetID(name string) string {
	s, _ := w.m.Subnet(name)
	if s.ID != "" {
		return s.ID
	}
	return ref("aws_subnet", tfName(name+"."+w.m.Name), "id")
}

func (w *writer) network() {
	d := w.doc(FileNetwork)
	name := w.m.Name
	if w.m.VPC.ID == "" {
		d.resource("aws_vpc", tfName(name), map[string]any{"cidr_block": w.m.VPC.CIDR, "enable_dns_hostnames": true,
			"enable_dns_support": true, "tags": w.m.VPC.Tags})
	}
	for _, s := range w.m.Subnets {
		if s.ID != "" {
			continue
		}
		d.resource("aws_subnet", tfName(s.Name+"."+name), map[string]any{"vpc_id": w.vpcID(), "cidr_block": s.CIDR,
			"availability_zone": s.Zone, "map_public_ip_on_launch": s.MapPublicIP, "tags": s.Tags})
	}
	igw := tfName(name)
	igwID := ref("aws_internet_gateway", igw, "id")
	if w.m.VPC.ID == "" {
		d.resource("aws_internet_gateway", igw, map[string]any{"vpc_id": w.vpcID(),
			"tags": merge(w.m.Tags, map[string]string{awsmodel.TagName: name, awsmodel.TagResource: "igw"})})
	} else {
		// An adopted VPC brings its internet gateway, as --target direct
		// uses it: the one attached to the VPC.
		igwID = "${data.aws_internet_gateway." + igw + ".id}"
		d.add("data", "aws_internet_gateway", igw, map[string]any{
			"filter": []map[string]any{{"name": "attachment.vpc-id", "values": []string{w.m.VPC.ID}}}})
	}
	for _, n := range w.m.NATGateways {
		nat := tfName(n.Zone + "." + name)
		d.resource("aws_eip", nat, map[string]any{"domain": "vpc", "tags": n.Tags})
		body := map[string]any{"allocation_id": ref("aws_eip", nat, "id"), "subnet_id": w.subnetID(n.Subnet), "tags": n.Tags}
		if w.m.VPC.ID == "" {
			body["depends_on"] = []string{"aws_internet_gateway." + igw}
		}
		d.resource("aws_nat_gateway", nat, body)
	}
	for _, rt := range w.m.RouteTables {
		rtName := tfName(rt.Key + "." + name)
		d.resource("aws_route_table", rtName, map[string]any{"vpc_id": w.vpcID(), "tags": rt.Tags})
		route := map[string]any{"route_table_id": ref("aws_route_table", rtName, "id"), "destination_cidr_block": "0.0.0.0/0"}
		if rt.Target == awsmodel.TargetIGW {
			route["gateway_id"] = igwID
		} else {
			route["nat_gateway_id"] = ref("aws_nat_gateway", tfName(strings.TrimPrefix(rt.Target, "nat-")+"."+name), "id")
		}
		d.resource("aws_route", rtName+"-default", route)
		for _, s := range rt.Subnets {
			d.resource("aws_route_table_association", tfName(s+"."+name), map[string]any{
				"subnet_id": w.subnetID(s), "route_table_id": ref("aws_route_table", rtName, "id")})
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func (w *writer) sgName(key string) string { return tfName(key + "." + w.m.Name) }

func (w *writer) security() {
	d := w.doc(FileSecurity)
	for _, sg := range w.m.SecurityGroups {
		name := w.sgName(sg.Key)
		d.resource("aws_security_group", name, map[string]any{"name": sg.Name, "description": sg.Description,
			"vpc_id": w.vpcID(), "tags": sg.Tags})
		// Terraform removes AWS's default egress rule; put it back.
		d.resource("aws_vpc_security_group_egress_rule", name+"-egress-all", map[string]any{
			"security_group_id": ref("aws_security_group", name, "id"), "ip_protocol": "-1", "cidr_ipv4": awsmodel.AnyCIDR})
		for _, r := range sg.Ingress {
			rule := map[string]any{"security_group_id": ref("aws_security_group", name, "id"), "ip_protocol": r.Protocol,
				"description": r.Description}
			if r.Protocol != "-1" {
				rule["from_port"], rule["to_port"] = r.FromPort, r.ToPort
			}
			if r.CIDR != "" {
				rule["cidr_ipv4"] = r.CIDR
			} else {
				rule["referenced_security_group_id"] = ref("aws_security_group", w.sgName(r.Source), "id")
			}
			d.resource("aws_vpc_security_group_ingress_rule", tfName(name+"-"+r.ID()), rule)
		}
	}
}

// roles writes the IAM role, policy and profile of each role in use.
func (w *writer) roles(used map[v1alpha1.InstanceGroupRole]bool) {
	d := w.doc(FileIAM)
	for _, r := range w.m.Roles {
		if !used[r.Role] {
			continue
		}
		name := tfName(r.Name)
		d.resource("aws_iam_role", name, map[string]any{"name": r.Name, "assume_role_policy": r.AssumeRolePolicy, "tags": r.Tags})
		d.resource("aws_iam_role_policy", name, map[string]any{"name": r.PolicyName, "role": ref("aws_iam_role", name, "name"),
			"policy": r.Policy})
		d.resource("aws_iam_instance_profile", name, map[string]any{"name": r.Name, "role": ref("aws_iam_role", name, "name"),
			"tags": r.Tags})
	}
}

func tagBlocks(tags map[string]string) []map[string]any {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []map[string]any
	for _, k := range keys {
		out = append(out, map[string]any{"key": k, "value": tags[k], "propagate_at_launch": true})
	}
	return out
}

func (w *writer) compute(igs []*v1alpha1.InstanceGroup, userData map[string][]byte) error {
	d := w.doc(FileCompute)
	used := map[v1alpha1.InstanceGroupRole]bool{}
	for _, ig := range igs {
		group := ig.Metadata.Name
		ud, ok := userData[group]
		if !ok {
			return fmt.Errorf("terraform: no user-data for instance group %s", group)
		}
		used[ig.Spec.Role] = true
		lt := w.m.NewLaunchTemplate(group, ig.Spec.Role, ig.Spec.Image, ig.Spec.MachineType)
		lt.KeyName = w.m.KeyPair.Name
		name := tfName(lt.Name)
		ami := tfName(lt.ImageName)
		d.add("data", "aws_ami", ami, map[string]any{"most_recent": true, "owners": []string{"self"},
			"filter": []map[string]any{{"name": "name", "values": []string{lt.ImageName, lt.ImageName + "-*"}}}})
		dataFile := fmt.Sprintf(userDataFileTempl, "aws_launch_template_"+name)
		w.data[dataFile] = ud
		body := map[string]any{
			"name": lt.Name, "image_id": "${data.aws_ami." + ami + ".id}", "instance_type": lt.InstanceType,
			"user_data":              fmt.Sprintf(`${filebase64("${path.module}/%s/%s")}`, DataDir, dataFile),
			"iam_instance_profile":   map[string]any{"name": ref("aws_iam_instance_profile", tfName(lt.InstanceProfile), "name")},
			"vpc_security_group_ids": []string{ref("aws_security_group", w.sgName(lt.SecurityGroup), "id")},
			"metadata_options": map[string]any{"http_endpoint": "enabled", "http_tokens": lt.HTTPTokens,
				"http_put_response_hop_limit": lt.HTTPHopLimit},
			"block_device_mappings": map[string]any{"device_name": "${data.aws_ami." + ami + ".root_device_name}",
				"ebs": map[string]any{"volume_size": lt.RootVolumeSize, "volume_type": "gp3", "encrypted": true, "delete_on_termination": true}},
			"tag_specifications": []map[string]any{{"resource_type": "instance", "tags": lt.InstanceTags},
				{"resource_type": "volume", "tags": lt.InstanceTags}},
			"tags": merge(lt.Tags, map[string]string{awsmodel.TagImage: lt.ImageName, awsmodel.TagMachineType: lt.InstanceType}),
		}
		if k := w.m.KeyPair; k.Imported() {
			body["key_name"] = ref("aws_key_pair", tfName(k.Name), "key_name")
			body["tags"] = merge(body["tags"].(map[string]string), map[string]string{awsmodel.TagKeyName: k.Name})
		} else if k.Name != "" {
			body["key_name"] = k.Name
			body["tags"] = merge(body["tags"].(map[string]string), map[string]string{awsmodel.TagKeyName: k.Name})
		}
		d.resource("aws_launch_template", name, body)
		asg := w.m.NewAutoScalingGroup(group, ig.Spec.Role, *ig.Spec.MinSize, *ig.Spec.MaxSize, ig.Spec.Subnets)
		var subnets []string
		for _, s := range asg.Subnets {
			subnets = append(subnets, w.subnetID(s))
		}
		body = map[string]any{"name": asg.Name, "min_size": asg.MinSize, "max_size": asg.MaxSize,
			"vpc_zone_identifier": subnets, "health_check_type": "EC2", "health_check_grace_period": 300,
			"launch_template": map[string]any{"id": ref("aws_launch_template", name, "id"), "version": "$Latest"},
			"tag":             tagBlocks(asg.Tags)}
		if asg.TargetGroup {
			body["target_group_arns"] = []string{ref("aws_lb_target_group", tfName(w.m.LoadBalancer.Name), "arn")}
		}
		d.resource("aws_autoscaling_group", name, body)
	}
	w.roles(used)
	if k := w.m.KeyPair; k.Imported() {
		d.resource("aws_key_pair", tfName(k.Name), map[string]any{"key_name": k.Name, "public_key": k.PublicKey, "tags": k.Tags})
	}
	return nil
}

func (w *writer) loadBalancer() {
	d := w.doc(FileLoadBalancer)
	lb := w.m.LoadBalancer
	name := tfName(lb.Name)
	var subnets []string
	for _, s := range lb.Subnets {
		subnets = append(subnets, w.subnetID(s))
	}
	d.resource("aws_lb", name, map[string]any{"name": lb.Name, "load_balancer_type": "network",
		"internal": lb.Scheme == awsmodel.SchemeInternal, "subnets": subnets,
		"security_groups": []string{ref("aws_security_group", w.sgName(lb.SecurityGroup), "id")}, "tags": lb.Tags})
	d.resource("aws_lb_target_group", name, map[string]any{"name": lb.Name, "port": lb.Port, "protocol": "TCP",
		"vpc_id": w.vpcID(), "target_type": "instance", "tags": lb.Tags,
		"health_check": map[string]any{"protocol": lb.HealthCheckProtocol, "path": lb.HealthCheckPath}})
	d.resource("aws_lb_listener", name, map[string]any{"load_balancer_arn": ref("aws_lb", name, "arn"), "port": lb.Port,
		"protocol": "TCP", "tags": lb.Tags,
		"default_action": map[string]any{"type": "forward", "target_group_arn": ref("aws_lb_target_group", name, "arn")}})
	zone := map[string]any{"name": strings.TrimSuffix(w.zone, ".")}
	if awsmodel.IsHostedZoneID(w.zone) {
		zone = map[string]any{"zone_id": strings.TrimPrefix(w.zone, "/hostedzone/")}
	}
	d.add("data", "aws_route53_zone", name, zone)
	d.resource("aws_route53_record", name, map[string]any{"zone_id": "${data.aws_route53_zone." + name + ".zone_id}",
		"name": lb.DNSName, "type": "A",
		"alias": map[string]any{"name": ref("aws_lb", name, "dns_name"), "zone_id": ref("aws_lb", name, "zone_id"),
			"evaluate_target_health": false}})
	d["output"] = map[string]any{
		"vpc_id":       map[string]any{"value": w.vpcID()},
		"api_dns_name": map[string]any{"value": ref("aws_lb", name, "dns_name")},
	}
}
