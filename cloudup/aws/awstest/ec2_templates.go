package awstest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
)

type image struct {
	name, rootDevice string
	created          time.Time
	owner            string // account id; Account for the caller's own
	state            string // pending until a reconcile makes it available
}

// AddImage registers an available AMI named name (as `hull image build`
// would have) and returns its id. Images are not cluster resources: they
// survive a cluster delete and do not count as leftovers.
func (s *Server) AddImage(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID("ami")
	s.ec2.images[id] = &image{name: name, rootDevice: "/dev/xvda", created: s.now(), owner: Account, state: "available"}
	return id
}

// AddImageOwned registers an available AMI another account publishes (a
// distribution's base image, say) and returns its id.
func (s *Server) AddImageOwned(name, owner string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID("ami")
	s.ec2.images[id] = &image{name: name, rootDevice: "/dev/xvda", created: s.now(), owner: owner, state: "available"}
	return id
}

func (s *Server) registerImage(p params) ([]x, *apiError) {
	id := s.nextID("ami")
	if aerr := s.tagSpecs(p, "image", id); aerr != nil {
		return nil, aerr
	}
	root := p.str("RootDeviceName")
	if root == "" {
		root = "/dev/xvda"
	}
	s.ec2.images[id] = &image{name: p.str("Name"), rootDevice: root, created: s.now(), owner: Account, state: "available"}
	return []x{txt("imageId", id)}, nil
}

func (s *Server) deregisterImage(p params) ([]x, *apiError) {
	id := p.str("ImageId")
	if s.ec2.images[id] == nil {
		return nil, newErr(http.StatusBadRequest, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	}
	delete(s.ec2.images, id)
	s.forget(id)
	return []x{boolean("return", true)}, nil
}

func (s *Server) describeImages(p params) ([]x, *apiError) {
	owners := map[string]bool{}
	for _, o := range p.list("Owner") {
		if o == "self" {
			o = Account
		}
		owners[o] = true
	}
	images := map[string]*image{}
	for id, im := range s.ec2.images {
		if len(owners) == 0 || owners[im.owner] {
			images[id] = im
		}
	}
	items, err := describe(s, p, "ImageId", images, func(id string, im *image) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "image-id":
				return []string{id}, true
			case "name":
				return []string{im.name}, true
			case "state":
				return []string{im.state}, true
			case "owner-id":
				return []string{im.owner}, true
			case "architecture":
				return []string{"x86_64"}, true
			}
			return nil, false
		}
	}, func(id string, im *image) x {
		return el("item", txt("imageId", id), txt("imageLocation", im.owner+"/"+im.name), txt("imageState", im.state),
			txt("imageOwnerId", im.owner), boolean("isPublic", false), txt("architecture", "x86_64"), txt("imageType", "machine"),
			txt("name", im.name), txt("rootDeviceType", "ebs"), txt("rootDeviceName", im.rootDevice),
			txt("virtualizationType", "hvm"), txt("hypervisor", "xen"), txt("creationDate", isoTime(im.created)),
			ec2Tags(s.ec2.tags[id]))
	}, "InvalidAMIID.NotFound")
	if err != nil {
		return nil, err
	}
	return s.ec2Page(p, "imagesSet", items, 1, 1000)
}

type tagSpec struct {
	resourceType string
	tags         map[string]string
}

type blockDevice struct {
	device, volumeType  string
	size                int
	encrypted, deleteOn bool
}

// ltData is the launch template data hull sets.
type ltData struct {
	imageID, instanceType, userData string
	profileName, profileArn         string
	keyName                         string
	securityGroups                  []string
	httpTokens, httpEndpoint        string
	hopLimit                        int
	tagSpecs                        []tagSpec
	blockDevices                    []blockDevice
}

type ltVersion struct {
	number  int
	data    ltData
	created time.Time
}

type launchTemplate struct {
	name           string
	versions       []*ltVersion
	defaultVersion int
	created        time.Time
}

func (t *launchTemplate) latest() *ltVersion { return t.versions[len(t.versions)-1] }

func (t *launchTemplate) version(v string) *ltVersion {
	switch v {
	case "", "$Default":
		v = strconv.Itoa(t.defaultVersion)
	case "$Latest":
		return t.latest()
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil
	}
	for _, ver := range t.versions {
		if ver.number == n {
			return ver
		}
	}
	return nil
}

var ltNameRE = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)

func parseLTData(p params) (ltData, *apiError) {
	d := ltData{
		imageID: p.str("ImageId"), instanceType: p.str("InstanceType"), userData: p.str("UserData"),
		profileName: p.str("IamInstanceProfile.Name"), profileArn: p.str("IamInstanceProfile.Arn"), keyName: p.str("KeyName"),
		securityGroups: p.list("SecurityGroupId"),
		httpTokens:     p.str("MetadataOptions.HttpTokens"), httpEndpoint: p.str("MetadataOptions.HttpEndpoint"),
	}
	if d.userData != "" {
		if _, err := base64.StdEncoding.DecodeString(d.userData); err != nil {
			return d, errInvalidParameter("Invalid BASE64 encoding of user data.")
		}
	}
	var aerr *apiError
	if d.hopLimit, aerr = p.int("MetadataOptions.HttpPutResponseHopLimit", 0); aerr != nil {
		return d, aerr
	}
	for _, ts := range p.structs("TagSpecification") {
		spec := tagSpec{resourceType: ts.str("ResourceType"), tags: map[string]string{}}
		for _, t := range ts.structs("Tag") {
			spec.tags[t.str("Key")] = t.str("Value")
		}
		d.tagSpecs = append(d.tagSpecs, spec)
	}
	for _, bd := range p.structs("BlockDeviceMapping") {
		size, aerr := bd.int("Ebs.VolumeSize", 0)
		if aerr != nil {
			return d, aerr
		}
		d.blockDevices = append(d.blockDevices, blockDevice{device: bd.str("DeviceName"), volumeType: bd.str("Ebs.VolumeType"),
			size: size, encrypted: bd.bool("Ebs.Encrypted"), deleteOn: bd.bool("Ebs.DeleteOnTermination")})
	}
	return d, nil
}

func renderLTData(d ltData) x {
	var sgs, specs, bds []x
	for _, g := range d.securityGroups {
		sgs = append(sgs, txt("item", g))
	}
	for _, ts := range d.tagSpecs {
		specs = append(specs, el("item", txt("resourceType", ts.resourceType), ec2Tags(ts.tags)))
	}
	for _, b := range d.blockDevices {
		bds = append(bds, el("item", txt("deviceName", b.device), el("ebs", num("volumeSize", b.size), opt("volumeType", b.volumeType),
			boolean("encrypted", b.encrypted), boolean("deleteOnTermination", b.deleteOn))))
	}
	out := el("launchTemplateData", opt("imageId", d.imageID), opt("instanceType", d.instanceType), opt("userData", d.userData),
		opt("keyName", d.keyName),
		list("securityGroupIdSet", "item", sgs), list("tagSpecificationSet", "item", specs), list("blockDeviceMappingSet", "item", bds))
	if d.profileName != "" || d.profileArn != "" {
		out.kids = append(out.kids, el("iamInstanceProfile", opt("name", d.profileName), opt("arn", d.profileArn)))
	}
	if d.httpTokens != "" || d.hopLimit != 0 || d.httpEndpoint != "" {
		out.kids = append(out.kids, el("metadataOptions", opt("httpTokens", d.httpTokens), opt("httpEndpoint", d.httpEndpoint),
			num("httpPutResponseHopLimit", d.hopLimit), txt("state", "applied")))
	}
	return out
}

func (s *Server) renderLT(id string, t *launchTemplate) x {
	return el("launchTemplate", txt("launchTemplateId", id), txt("launchTemplateName", t.name), txt("createTime", isoTime(t.created)),
		txt("createdBy", "arn:aws:iam::"+Account+":user/awsemu"), num("defaultVersionNumber", t.defaultVersion),
		num("latestVersionNumber", t.latest().number), ec2Tags(s.ec2.tags[id]))
}

func (s *Server) renderLTVersion(id string, t *launchTemplate, v *ltVersion) x {
	return el("launchTemplateVersion", txt("launchTemplateId", id), txt("launchTemplateName", t.name), num("versionNumber", v.number),
		txt("createTime", isoTime(v.created)), txt("createdBy", "arn:aws:iam::"+Account+":user/awsemu"),
		boolean("defaultVersion", v.number == t.defaultVersion), renderLTData(v.data))
}

func (s *Server) createLaunchTemplate(p params) ([]x, *apiError) {
	name := p.str("LaunchTemplateName")
	if !ltNameRE.MatchString(name) {
		return nil, errInvalidParameter("launch template name %q is invalid", name)
	}
	for _, t := range s.ec2.lts {
		if t.name == name {
			return nil, newErr(http.StatusBadRequest, "InvalidLaunchTemplateName.AlreadyExistsException",
				"Launch template name already in use.")
		}
	}
	d, aerr := parseLTData(p.sub("LaunchTemplateData"))
	if aerr != nil {
		return nil, aerr
	}
	id := s.nextID("lt")
	if aerr := s.tagSpecs(p, "launch-template", id); aerr != nil {
		return nil, aerr
	}
	t := &launchTemplate{name: name, defaultVersion: 1, created: s.now(),
		versions: []*ltVersion{{number: 1, data: d, created: s.now()}}}
	s.ec2.lts[id] = t
	return []x{s.renderLT(id, t)}, nil
}

// findLT resolves LaunchTemplateId or LaunchTemplateName.
func (s *Server) findLT(p params) (string, *launchTemplate, *apiError) {
	if id := p.str("LaunchTemplateId"); id != "" {
		if t := s.ec2.lts[id]; t != nil {
			return id, t, nil
		}
		return "", nil, newErr(http.StatusBadRequest, "InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
	}
	name := p.str("LaunchTemplateName")
	for id, t := range s.ec2.lts {
		if t.name == name {
			return id, t, nil
		}
	}
	return "", nil, newErr(http.StatusBadRequest, "InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
}

func (s *Server) createLaunchTemplateVersion(p params) ([]x, *apiError) {
	id, t, aerr := s.findLT(p)
	if aerr != nil {
		return nil, aerr
	}
	d, aerr := parseLTData(p.sub("LaunchTemplateData"))
	if aerr != nil {
		return nil, aerr
	}
	v := &ltVersion{number: t.latest().number + 1, data: d, created: s.now()}
	t.versions = append(t.versions, v)
	return []x{s.renderLTVersion(id, t, v)}, nil
}

func (s *Server) modifyLaunchTemplate(p params) ([]x, *apiError) {
	id, t, aerr := s.findLT(p)
	if aerr != nil {
		return nil, aerr
	}
	if v := p.str("SetDefaultVersion"); v != "" {
		ver := t.version(v)
		if ver == nil {
			return nil, newErr(http.StatusBadRequest, "InvalidLaunchTemplateId.VersionNotFound", "version %s does not exist", v)
		}
		t.defaultVersion = ver.number
	}
	return []x{s.renderLT(id, t)}, nil
}

func (s *Server) deleteLaunchTemplate(p params) ([]x, *apiError) {
	id, t, aerr := s.findLT(p)
	if aerr != nil {
		return nil, aerr
	}
	out := s.renderLT(id, t)
	delete(s.ec2.lts, id)
	s.forget(id)
	return []x{out}, nil
}

func (s *Server) describeLaunchTemplates(p params) ([]x, *apiError) {
	names := p.list("LaunchTemplateName")
	for _, n := range names {
		if _, _, aerr := s.findLT(params{v: map[string][]string{"LaunchTemplateName": {n}}}); aerr != nil {
			return nil, aerr
		}
	}
	items, err := describe(s, p, "LaunchTemplateId", s.ec2.lts, func(id string, t *launchTemplate) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "launch-template-name":
				return []string{t.name}, true
			case "create-time":
				return []string{isoTime(t.created)}, true
			}
			return nil, false
		}
	}, func(id string, t *launchTemplate) x {
		if len(names) > 0 && !slices.Contains(names, t.name) {
			return x{}
		}
		return s.renderLT(id, t)
	}, "InvalidLaunchTemplateId.NotFound")
	if err != nil {
		return nil, err
	}
	items = slices.DeleteFunc(items, func(i x) bool { return i.name == "" })
	return s.ec2Page(p, "launchTemplates", items, 1, 200)
}

func (s *Server) describeLaunchTemplateVersions(p params) ([]x, *apiError) {
	want := p.list("LaunchTemplateVersion")
	var items []x
	if p.str("LaunchTemplateId") == "" && p.str("LaunchTemplateName") == "" {
		for _, v := range want {
			if v != "$Latest" && v != "$Default" {
				return nil, errInvalidParameter("without a launch template only $Latest and $Default may be described")
			}
		}
		for _, id := range sortedKeys(s.ec2.lts) {
			t := s.ec2.lts[id]
			for _, v := range want {
				items = append(items, s.renderLTVersion(id, t, t.version(v)))
			}
		}
		return s.ec2Page(p, "launchTemplateVersionSet", items, 1, 200)
	}
	id, t, aerr := s.findLT(p)
	if aerr != nil {
		return nil, aerr
	}
	if len(want) == 0 {
		for _, v := range t.versions {
			want = append(want, strconv.Itoa(v.number))
		}
	}
	for _, w := range want {
		v := t.version(w)
		if v == nil {
			return nil, newErr(http.StatusBadRequest, "InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s", w)
		}
		items = append(items, s.renderLTVersion(id, t, v))
	}
	return s.ec2Page(p, "launchTemplateVersionSet", items, 1, 200)
}

func profileArn(name string) string {
	return fmt.Sprintf("arn:aws:iam::%s:instance-profile/%s", Account, name)
}
