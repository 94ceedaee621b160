package awstest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

type iamRole struct {
	path, assume string
	created      time.Time
	policies     map[string]string
	attached     []string // managed policy ARNs
	tags         map[string]string
	id           string
}

type instanceProfile struct {
	path    string
	roles   []string
	created time.Time
	tags    map[string]string
	id      string
}

type iamState struct {
	roles    map[string]*iamRole
	profiles map[string]*instanceProfile
}

func (i *iamState) init() {
	i.roles = map[string]*iamRole{}
	i.profiles = map[string]*instanceProfile{}
}

func (i *iamState) leftovers() []string {
	var out []string
	for _, n := range sortedKeys(i.roles) {
		out = append(out, "iam-role "+n)
	}
	for _, n := range sortedKeys(i.profiles) {
		out = append(out, "iam-instance-profile "+n)
	}
	return out
}

func (s *Server) iamHandlers() map[string]handler {
	return map[string]handler{
		"CreateRole": s.createRole, "GetRole": s.getRole, "DeleteRole": s.deleteRole, "UpdateAssumeRolePolicy": s.updateAssumeRolePolicy,
		"PutRolePolicy": s.putRolePolicy, "GetRolePolicy": s.getRolePolicy, "ListRolePolicies": s.listRolePolicies,
		"DeleteRolePolicy": s.deleteRolePolicy, "ListAttachedRolePolicies": s.listAttachedRolePolicies,
		"AttachRolePolicy": s.attachRolePolicy, "DetachRolePolicy": s.detachRolePolicy,
		"CreateInstanceProfile": s.createInstanceProfile, "GetInstanceProfile": s.getInstanceProfile,
		"DeleteInstanceProfile": s.deleteInstanceProfile, "AddRoleToInstanceProfile": s.addRoleToInstanceProfile,
		"RemoveRoleFromInstanceProfile": s.removeRoleFromInstanceProfile, "ListInstanceProfilesForRole": s.listInstanceProfilesForRole,
		"TagRole": s.tagRole, "TagInstanceProfile": s.tagInstanceProfile,
	}
}

func errNoSuchEntity(format string, a ...any) *apiError {
	return newErr(http.StatusNotFound, "NoSuchEntity", format, a...)
}

// encodePolicy percent-encodes a policy document as IAM returns it.
func encodePolicy(doc string) string { return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20") }

func tagMap(p params) map[string]string {
	out := map[string]string{}
	for _, t := range p.structs("Tags") {
		out[t.str("Key")] = t.str("Value")
	}
	return out
}

func (s *Server) role(name string) (*iamRole, *apiError) {
	r := s.iam.roles[name]
	if r == nil {
		return nil, errNoSuchEntity("The role with name %s cannot be found.", name)
	}
	return r, nil
}

func (s *Server) renderRole(name string, r *iamRole) x {
	return el("Role", txt("Path", r.path), txt("RoleName", name), txt("RoleId", r.id),
		txt("Arn", fmt.Sprintf("arn:aws:iam::%s:role%s%s", Account, r.path, name)), txt("CreateDate", isoTime(r.created)),
		txt("AssumeRolePolicyDocument", encodePolicy(r.assume)), num("MaxSessionDuration", 3600), queryTags(r.tags))
}

func (s *Server) createRole(p params) ([]x, *apiError) {
	name := p.str("RoleName")
	if s.iam.roles[name] != nil {
		return nil, newErr(http.StatusConflict, "EntityAlreadyExists", "Role with name %s already exists.", name)
	}
	if len(name) > 64 || name == "" {
		return nil, errValidation("1 validation error detected: Value at 'roleName' failed to satisfy constraint: length 1-64")
	}
	path := p.str("Path")
	if path == "" {
		path = "/"
	}
	r := &iamRole{path: path, assume: p.str("AssumeRolePolicyDocument"), created: s.now(), policies: map[string]string{},
		tags: tagMap(p), id: fmt.Sprintf("AROA%016X", s.seq+1)}
	s.seq++
	s.iam.roles[name] = r
	return []x{s.renderRole(name, r)}, nil
}

func (s *Server) getRole(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	return []x{s.renderRole(p.str("RoleName"), r)}, nil
}

func (s *Server) updateAssumeRolePolicy(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	r.assume = p.str("PolicyDocument")
	return nil, nil
}

func (s *Server) deleteRole(p params) ([]x, *apiError) {
	name := p.str("RoleName")
	r, aerr := s.role(name)
	if aerr != nil {
		return nil, aerr
	}
	if len(r.policies) > 0 || len(r.attached) > 0 {
		return nil, newErr(http.StatusConflict, "DeleteConflict", "Cannot delete entity, must delete policies first.")
	}
	for _, ip := range s.iam.profiles {
		if slices.Contains(ip.roles, name) {
			return nil, newErr(http.StatusConflict, "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
		}
	}
	delete(s.iam.roles, name)
	return nil, nil
}

func (s *Server) putRolePolicy(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	doc := p.str("PolicyDocument")
	if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
		return nil, newErr(http.StatusBadRequest, "MalformedPolicyDocument", "Syntax errors in policy.")
	}
	r.policies[p.str("PolicyName")] = doc
	return nil, nil
}

func (s *Server) getRolePolicy(p params) ([]x, *apiError) {
	name, policy := p.str("RoleName"), p.str("PolicyName")
	r, aerr := s.role(name)
	if aerr != nil {
		return nil, aerr
	}
	doc, ok := r.policies[policy]
	if !ok {
		return nil, errNoSuchEntity("The role policy with name %s cannot be found.", policy)
	}
	return []x{txt("RoleName", name), txt("PolicyName", policy), txt("PolicyDocument", encodePolicy(doc))}, nil
}

func (s *Server) listRolePolicies(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	var names []x
	for _, n := range sortedKeys(r.policies) {
		names = append(names, txt("member", n))
	}
	return s.iamPage(p, "PolicyNames", names)
}

// iamPage pages IAM results with Marker/MaxItems (default 100, max 1000).
func (s *Server) iamPage(p params, name string, items []x) ([]x, *apiError) {
	size, aerr := p.int("MaxItems", 0)
	if aerr != nil {
		return nil, aerr
	}
	from, to, next, aerr := s.page(len(items), p.str("Marker"), 100, 1000, size)
	if aerr != nil {
		return nil, aerr
	}
	return []x{list(name, "member", items[from:to]), boolean("IsTruncated", next != ""), opt("Marker", next)}, nil
}

func (s *Server) listAttachedRolePolicies(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	var items []x
	for _, arn := range r.attached {
		items = append(items, el("member", txt("PolicyName", arn[strings.LastIndex(arn, "/")+1:]), txt("PolicyArn", arn)))
	}
	return s.iamPage(p, "AttachedPolicies", items)
}

func (s *Server) attachRolePolicy(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	arn := p.str("PolicyArn")
	if !strings.HasPrefix(arn, "arn:aws:iam::") {
		return nil, newErr(http.StatusBadRequest, "InvalidInput", "ARN %s is not valid.", arn)
	}
	if !slices.Contains(r.attached, arn) {
		r.attached = append(r.attached, arn)
	}
	return nil, nil
}

func (s *Server) detachRolePolicy(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	i := slices.Index(r.attached, p.str("PolicyArn"))
	if i < 0 {
		return nil, errNoSuchEntity("Policy %s was not found.", p.str("PolicyArn"))
	}
	r.attached = slices.Delete(r.attached, i, i+1)
	return nil, nil
}

func (s *Server) deleteRolePolicy(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	if _, ok := r.policies[p.str("PolicyName")]; !ok {
		return nil, errNoSuchEntity("The role policy with name %s cannot be found.", p.str("PolicyName"))
	}
	delete(r.policies, p.str("PolicyName"))
	return nil, nil
}

func (s *Server) profile(name string) (*instanceProfile, *apiError) {
	ip := s.iam.profiles[name]
	if ip == nil {
		return nil, errNoSuchEntity("Instance Profile %s cannot be found.", name)
	}
	return ip, nil
}

func (s *Server) renderProfile(name string, ip *instanceProfile) x {
	var roles []x
	for _, rn := range ip.roles {
		if r := s.iam.roles[rn]; r != nil {
			role := s.renderRole(rn, r)
			roles = append(roles, role)
		}
	}
	return el("InstanceProfile", txt("Path", ip.path), txt("InstanceProfileName", name), txt("InstanceProfileId", ip.id),
		txt("Arn", profileArn(name)), txt("CreateDate", isoTime(ip.created)), list("Roles", "member", roles), queryTags(ip.tags))
}

func (s *Server) createInstanceProfile(p params) ([]x, *apiError) {
	name := p.str("InstanceProfileName")
	if s.iam.profiles[name] != nil {
		return nil, newErr(http.StatusConflict, "EntityAlreadyExists", "Instance Profile %s already exists.", name)
	}
	path := p.str("Path")
	if path == "" {
		path = "/"
	}
	s.seq++
	ip := &instanceProfile{path: path, created: s.now(), tags: tagMap(p), id: fmt.Sprintf("AIPA%016X", s.seq)}
	s.iam.profiles[name] = ip
	return []x{s.renderProfile(name, ip)}, nil
}

func (s *Server) getInstanceProfile(p params) ([]x, *apiError) {
	ip, aerr := s.profile(p.str("InstanceProfileName"))
	if aerr != nil {
		return nil, aerr
	}
	return []x{s.renderProfile(p.str("InstanceProfileName"), ip)}, nil
}

func (s *Server) deleteInstanceProfile(p params) ([]x, *apiError) {
	name := p.str("InstanceProfileName")
	ip, aerr := s.profile(name)
	if aerr != nil {
		return nil, aerr
	}
	if len(ip.roles) > 0 {
		return nil, newErr(http.StatusConflict, "DeleteConflict", "Cannot delete entity, must remove roles from instance profile first.")
	}
	delete(s.iam.profiles, name)
	return nil, nil
}

func (s *Server) addRoleToInstanceProfile(p params) ([]x, *apiError) {
	ip, aerr := s.profile(p.str("InstanceProfileName"))
	if aerr != nil {
		return nil, aerr
	}
	if _, aerr := s.role(p.str("RoleName")); aerr != nil {
		return nil, aerr
	}
	if len(ip.roles) > 0 {
		return nil, newErr(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
	}
	ip.roles = append(ip.roles, p.str("RoleName"))
	return nil, nil
}

func (s *Server) removeRoleFromInstanceProfile(p params) ([]x, *apiError) {
	ip, aerr := s.profile(p.str("InstanceProfileName"))
	if aerr != nil {
		return nil, aerr
	}
	if !slices.Contains(ip.roles, p.str("RoleName")) {
		return nil, errNoSuchEntity("The role with name %s cannot be found in the instance profile.", p.str("RoleName"))
	}
	ip.roles = slices.DeleteFunc(ip.roles, func(r string) bool { return r == p.str("RoleName") })
	return nil, nil
}

func (s *Server) listInstanceProfilesForRole(p params) ([]x, *apiError) {
	name := p.str("RoleName")
	if _, aerr := s.role(name); aerr != nil {
		return nil, aerr
	}
	var items []x
	for _, n := range sortedKeys(s.iam.profiles) {
		if ip := s.iam.profiles[n]; slices.Contains(ip.roles, name) {
			items = append(items, s.renderProfile(n, ip))
		}
	}
	return s.iamPage(p, "InstanceProfiles", items)
}

func (s *Server) getCallerIdentity(params) ([]x, *apiError) {
	return []x{txt("Arn", "arn:aws:iam::"+Account+":user/awsemu"), txt("UserId", "AIDAAWSEMU0000000000"), txt("Account", Account)}, nil
}

// tagRole adds or replaces tags of a role (IAM allows 50).
func (s *Server) tagRole(p params) ([]x, *apiError) {
	r, aerr := s.role(p.str("RoleName"))
	if aerr != nil {
		return nil, aerr
	}
	return nil, addIAMTags(r.tags, tagMap(p))
}

func (s *Server) tagInstanceProfile(p params) ([]x, *apiError) {
	ip, aerr := s.profile(p.str("InstanceProfileName"))
	if aerr != nil {
		return nil, aerr
	}
	if ip.tags == nil {
		ip.tags = map[string]string{}
	}
	return nil, addIAMTags(ip.tags, tagMap(p))
}

func addIAMTags(have, add map[string]string) *apiError {
	n := len(have)
	for k := range add {
		if _, ok := have[k]; !ok {
			n++
		}
	}
	if n > 50 {
		return newErr(http.StatusConflict, "LimitExceeded", "The number of tags has reached the maximum limit of 50.")
	}
	for k, v := range add {
		have[k] = v
	}
	return nil
}
