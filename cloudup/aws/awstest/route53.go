package awstest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

type rrset struct {
	name, typ           string
	ttl                 int
	values              []string
	aliasZone, alias    string
	aliasEvaluateHealth bool
}

type hostedZone struct {
	name    string
	records map[string]*rrset // name|type
}

type r53State struct {
	zones   map[string]*hostedZone // by id (Z...)
	changes int
}

func (r *r53State) init() { r.zones = map[string]*hostedZone{} }

func (r *r53State) leftovers() []string {
	var out []string
	for _, id := range sortedKeys(r.zones) {
		for _, k := range sortedKeys(r.zones[id].records) {
			out = append(out, "route53-record "+k)
		}
	}
	return out
}

// AddHostedZone creates a public hosted zone for name (with or without the
// trailing dot) and returns its id. Zones are not cluster resources; only
// their records count as leftovers.
func (s *Server) AddHostedZone(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("Z%013X", s.seq)
	s.r53.zones[id] = &hostedZone{name: fqdn(name), records: map[string]*rrset{}}
	return id
}

// Records lists a zone's records as "name type value".
func (s *Server) Records(zone string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if z := s.r53.zones[zone]; z != nil {
		for _, k := range sortedKeys(z.records) {
			r := z.records[k]
			out = append(out, fmt.Sprintf("%s %s %s%s", r.name, r.typ, r.alias, strings.Join(r.values, ",")))
		}
	}
	return out
}

// DeleteRecord removes a record as someone working behind hull's back would.
func (s *Server) DeleteRecord(zone, name, typ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.r53.zones[zone]; z != nil {
		delete(z.records, fqdn(name)+"|"+typ)
	}
}

func fqdn(n string) string { return strings.TrimSuffix(strings.ToLower(n), ".") + "." }

// route53Action names a REST call by its method and path.
func route53Action(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/2013-04-01/")
	switch {
	case strings.HasPrefix(p, "hostedzonesbyname"):
		return "ListHostedZonesByName"
	case strings.HasPrefix(p, "change/"):
		return "GetChange"
	case strings.HasPrefix(p, "hostedzone/") && strings.HasSuffix(p, "/rrset") && r.Method == http.MethodPost:
		return "ChangeResourceRecordSets"
	case strings.HasPrefix(p, "hostedzone/") && strings.HasSuffix(p, "/rrset"):
		return "ListResourceRecordSets"
	case strings.HasPrefix(p, "hostedzone/") && r.Method == http.MethodGet:
		return "GetHostedZone"
	case strings.HasPrefix(p, "hostedzone/") && r.Method == http.MethodDelete:
		return "DeleteHostedZone"
	case p == "hostedzone" && r.Method == http.MethodGet:
		return "ListHostedZones"
	case p == "hostedzone" && r.Method == http.MethodPost:
		return "CreateHostedZone"
	case strings.HasPrefix(p, "tags/") && r.Method == http.MethodGet:
		return "ListTagsForResource"
	case strings.HasPrefix(p, "tags/") && r.Method == http.MethodPost:
		return "ChangeTagsForResource"
	}
	return r.Method + " " + r.URL.Path
}

const r53NS = "https://route53.amazonaws.com/doc/2013-04-01/"

func r53Response(root string, kids ...x) []byte {
	var b bytes.Buffer
	b.WriteString(`<` + root + ` xmlns="` + r53NS + `">`)
	for _, k := range kids {
		k.write(&b)
	}
	b.WriteString(`</` + root + `>`)
	return b.Bytes()
}

func (s *Server) route53(action string, r *http.Request, body []byte) ([]byte, *apiError) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/2013-04-01/"), "/")
	zoneFor := func() (string, *hostedZone, *apiError) {
		if len(parts) < 2 || s.r53.zones[parts[1]] == nil {
			return "", nil, newErr(http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: %s", strings.Join(parts[1:2], ""))
		}
		return parts[1], s.r53.zones[parts[1]], nil
	}
	switch action {
	case "ListHostedZonesByName":
		var zones []x
		for _, id := range sortedKeys(s.r53.zones) {
			z := s.r53.zones[id]
			if dns := r.URL.Query().Get("dnsname"); dns != "" && fqdn(dns) > z.name {
				continue
			}
			zones = append(zones, renderZone(id, z))
		}
		sort.SliceStable(zones, func(i, j int) bool { return zones[i].kids[1].text < zones[j].kids[1].text })
		return r53Response("ListHostedZonesByNameResponse", list("HostedZones", "HostedZone", zones),
			opt("DNSName", r.URL.Query().Get("dnsname")), boolean("IsTruncated", false), num("MaxItems", 100)), nil
	case "GetHostedZone":
		id, z, aerr := zoneFor()
		if aerr != nil {
			return nil, aerr
		}
		return r53Response("GetHostedZoneResponse", renderZone(id, z)), nil
	case "GetChange":
		return r53Response("GetChangeResponse", s.changeInfo(parts[len(parts)-1], "INSYNC")), nil
	case "ListResourceRecordSets":
		_, z, aerr := zoneFor()
		if aerr != nil {
			return nil, aerr
		}
		return s.listRRSets(z, r), nil
	case "ChangeResourceRecordSets":
		_, z, aerr := zoneFor()
		if aerr != nil {
			return nil, aerr
		}
		return s.changeRRSets(z, body)
	}
	return nil, newErr(http.StatusBadRequest, "InvalidAction", "awsemu does not emulate route53 %s", action)
}

func renderZone(id string, z *hostedZone) x {
	return el("HostedZone", txt("Id", "/hostedzone/"+id), txt("Name", z.name), txt("CallerReference", id),
		el("Config", boolean("PrivateZone", false)), num("ResourceRecordSetCount", len(z.records)+2))
}

func (s *Server) changeInfo(id, status string) x {
	return el("ChangeInfo", txt("Id", "/change/"+id), txt("Status", status), txt("SubmittedAt", isoTime(s.now())))
}

func renderRRSet(r *rrset) x {
	out := el("ResourceRecordSet", txt("Name", r.name), txt("Type", r.typ))
	if r.alias != "" {
		out.kids = append(out.kids, el("AliasTarget", txt("HostedZoneId", r.aliasZone), txt("DNSName", r.alias),
			boolean("EvaluateTargetHealth", r.aliasEvaluateHealth)))
		return out
	}
	var vals []x
	for _, v := range r.values {
		vals = append(vals, el("ResourceRecord", txt("Value", v)))
	}
	out.kids = append(out.kids, num("TTL", r.ttl), list("ResourceRecords", "ResourceRecord", vals))
	return out
}

func (s *Server) listRRSets(z *hostedZone, r *http.Request) []byte {
	q := r.URL.Query()
	start := ""
	if n := q.Get("name"); n != "" {
		start = fqdn(n) + "|" + q.Get("type")
	}
	var sets []x
	for _, k := range sortedKeys(z.records) {
		if k >= start {
			sets = append(sets, renderRRSet(z.records[k]))
		}
	}
	return r53Response("ListResourceRecordSetsResponse", list("ResourceRecordSets", "ResourceRecordSet", sets),
		boolean("IsTruncated", false), num("MaxItems", 300))
}

type changeBatch struct {
	Changes []struct {
		Action string `xml:"Action"`
		Set    struct {
			Name            string `xml:"Name"`
			Type            string `xml:"Type"`
			TTL             int    `xml:"TTL"`
			ResourceRecords []struct {
				Value string `xml:"Value"`
			} `xml:"ResourceRecords>ResourceRecord"`
			Alias *struct {
				HostedZoneID   string `xml:"HostedZoneId"`
				DNSName        string `xml:"DNSName"`
				EvaluateHealth bool   `xml:"EvaluateTargetHealth"`
			} `xml:"AliasTarget"`
		} `xml:"ResourceRecordSet"`
	} `xml:"ChangeBatch>Changes>Change"`
}

func (s *Server) changeRRSets(z *hostedZone, body []byte) ([]byte, *apiError) {
	var cb changeBatch
	if err := xml.Unmarshal(body, &cb); err != nil {
		return nil, newErr(http.StatusBadRequest, "InvalidInput", "cannot parse change batch: %v", err)
	}
	next := map[string]*rrset{}
	for k, v := range z.records {
		next[k] = v
	}
	for _, c := range cb.Changes {
		rs := &rrset{name: fqdn(c.Set.Name), typ: c.Set.Type, ttl: c.Set.TTL}
		if !strings.HasSuffix(rs.name, z.name) {
			return nil, invalidChangeBatch(fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", rs.name, z.name))
		}
		for _, v := range c.Set.ResourceRecords {
			rs.values = append(rs.values, v.Value)
		}
		if a := c.Set.Alias; a != nil {
			rs.aliasZone, rs.alias, rs.aliasEvaluateHealth = a.HostedZoneID, fqdn(a.DNSName), a.EvaluateHealth
		}
		k := rs.name + "|" + rs.typ
		switch c.Action {
		case "CREATE":
			if next[k] != nil {
				return nil, invalidChangeBatch(fmt.Sprintf("Tried to create resource record set [name='%s', type='%s'] but it already exists", rs.name, rs.typ))
			}
			next[k] = rs
		case "UPSERT":
			next[k] = rs
		case "DELETE":
			if old := next[k]; old == nil || old.alias != rs.alias || strings.Join(old.values, ",") != strings.Join(rs.values, ",") {
				return nil, invalidChangeBatch(fmt.Sprintf("Tried to delete resource record set [name='%s', type='%s'] but it was not found", rs.name, rs.typ))
			}
			delete(next, k)
		default:
			return nil, newErr(http.StatusBadRequest, "InvalidInput", "unknown change action %q", c.Action)
		}
	}
	z.records = next
	s.r53.changes++
	return r53Response("ChangeResourceRecordSetsResponse", s.changeInfo(fmt.Sprintf("C%013X", s.r53.changes), "PENDING")), nil
}

func invalidChangeBatch(msg string) *apiError {
	return newErr(http.StatusBadRequest, "InvalidChangeBatch", "%s", msg)
}
