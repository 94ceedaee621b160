package validation

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// repositoryPath is a path component of an image repository, as the OCI
// distribution spec allows it.
var repositoryPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// validateRegistries checks spec.containerd.registryMirrors and
// spec.assets.containerRegistry.
func validateRegistries(s *v1alpha1.ClusterSpec) field.ErrorList {
	var errs field.ErrorList
	if s.Assets != nil && s.Assets.ContainerRegistry != "" {
		errs = append(errs, validateContainerRegistry(specPath.Child("assets", "containerRegistry"), s.Assets.ContainerRegistry)...)
	}
	if s.Containerd == nil {
		return errs
	}
	p := specPath.Child("containerd", "registryMirrors")
	hosts := make([]string, 0, len(s.Containerd.RegistryMirrors))
	for h := range s.Containerd.RegistryMirrors {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		hp := p.Key(h)
		if h != v1alpha1.RegistryMirrorsAll {
			if msg := checkRegistryHost(h); msg != "" {
				errs = append(errs, field.Invalid(hp, h, msg))
			}
		}
		mirrors := s.Containerd.RegistryMirrors[h]
		if len(mirrors) == 0 {
			errs = append(errs, field.Required(hp, "list at least one mirror URL, or leave the host out"))
		}
		seen := map[string]bool{}
		for i, m := range mirrors {
			if seen[m] {
				errs = append(errs, field.Duplicate(hp.Index(i), m))
				continue
			}
			seen[m] = true
			if msg := checkMirrorURL(m); msg != "" {
				errs = append(errs, field.Invalid(hp.Index(i), m, msg))
			}
		}
	}
	return errs
}

// checkRegistryHost accepts host or host:port, where host is a DNS name
// or an IP address; it returns what is wrong, or "".
func checkRegistryHost(h string) string {
	const want = "must be a registry host such as docker.io, registry.k8s.io or registry.example.com:5000, or * for every host"
	host, port := h, ""
	if hh, pp, err := net.SplitHostPort(h); err == nil {
		host, port = hh, pp
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return want + ": bad port " + strconv.Quote(port)
		}
	}
	if net.ParseIP(host) != nil {
		return ""
	}
	if msgs := validation.IsDNS1123Subdomain(host); len(msgs) > 0 {
		return want + ": " + strings.Join(msgs, "; ")
	}
	return ""
}

// checkMirrorURL accepts an http:// or https:// URL naming a host, with an
// optional path and nothing else; it returns what is wrong, or "".
func checkMirrorURL(m string) string {
	u, err := url.Parse(m)
	switch {
	case err != nil:
		return "is not a URL: " + err.Error()
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http:// or https:// URL such as https://mirror.example.com or http://10.0.0.1:5000"
	case u.Host == "":
		return "names no host"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "must not carry credentials, a query or a fragment"
	}
	if msg := checkRegistryHost(u.Host); msg != "" {
		return "host " + strconv.Quote(u.Host) + ": " + msg
	}
	return ""
}

// validateContainerRegistry accepts host[:port][/path] without a scheme,
// as kops's spec.assets.containerRegistry.
func validateContainerRegistry(p *field.Path, r string) field.ErrorList {
	if strings.Contains(r, "://") {
		return field.ErrorList{field.Invalid(p, r, "must be host[:port][/path] without a scheme, e.g. registry.example.com/hull")}
	}
	host, rest, _ := strings.Cut(r, "/")
	if msg := checkRegistryHost(host); msg != "" {
		return field.ErrorList{field.Invalid(p, r, msg)}
	}
	if rest == "" {
		return nil
	}
	for _, c := range strings.Split(rest, "/") {
		if !repositoryPath.MatchString(c) {
			return field.ErrorList{field.Invalid(p, r, fmt.Sprintf("path component %q must be lower-case letters and digits separated by ., _, __ or -", c))}
		}
	}
	return nil
}
