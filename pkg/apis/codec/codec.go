package codec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/hullproject/hull/pkg/apis/v1alpha1"
)

// Objects is the content of a multi-document file.
type Objects struct {
	Clusters       []*v1alpha1.Cluster
	InstanceGroups []*v1alpha1.InstanceGroup
}

// DecodeAll parses every document in data. Unknown fields, unknown kinds and
// wrong apiVersions are errors naming the document (1-based) and the field.
func DecodeAll(data []byte) (*Objects, error) {
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, err
	}
	out := &Objects{}
	for i, doc := range docs {
		obj, err := Decode(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		switch o := obj.(type) {
		case *v1alpha1.Cluster:
			out.Clusters = append(out.Clusters, o)
		case *v1alpha1.InstanceGroup:
			out.InstanceGroups = append(out.InstanceGroups, o)
		}
	}
	if len(out.Clusters) == 0 && len(out.InstanceGroups) == 0 {
		return nil, errors.New("no Cluster or InstanceGroup documents found")
	}
	return out, nil
}

// Decode parses one document into a *v1alpha1.Cluster or *v1alpha1.InstanceGroup.
func Decode(doc []byte) (any, error) {
	var tm v1alpha1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if tm.APIVersion != v1alpha1.GroupVersion {
		if tm.APIVersion == "" {
			return nil, fmt.Errorf("apiVersion: required, want %q", v1alpha1.GroupVersion)
		}
		return nil, fmt.Errorf("apiVersion: unsupported value %q, want %q", tm.APIVersion, v1alpha1.GroupVersion)
	}
	var obj any
	switch tm.Kind {
	case v1alpha1.KindCluster:
		obj = &v1alpha1.Cluster{}
	case v1alpha1.KindInstanceGroup:
		obj = &v1alpha1.InstanceGroup{}
	case "":
		return nil, fmt.Errorf("kind: required, want %s or %s", v1alpha1.KindCluster, v1alpha1.KindInstanceGroup)
	default:
		return nil, fmt.Errorf("kind: unsupported value %q, want %s or %s", tm.Kind, v1alpha1.KindCluster, v1alpha1.KindInstanceGroup)
	}
	if err := decodeStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return obj, nil
}

// DecodeCluster parses exactly one Cluster document.
func DecodeCluster(doc []byte) (*v1alpha1.Cluster, error) {
	obj, err := Decode(doc)
	if err != nil {
		return nil, err
	}
	c, ok := obj.(*v1alpha1.Cluster)
	if !ok {
		return nil, fmt.Errorf("kind: want %s, got %s", v1alpha1.KindCluster, v1alpha1.KindInstanceGroup)
	}
	return c, nil
}

// DecodeInstanceGroup parses exactly one InstanceGroup document.
func DecodeInstanceGroup(doc []byte) (*v1alpha1.InstanceGroup, error) {
	obj, err := Decode(doc)
	if err != nil {
		return nil, err
	}
	ig, ok := obj.(*v1alpha1.InstanceGroup)
	if !ok {
		return nil, fmt.Errorf("kind: want %s, got %s", v1alpha1.KindInstanceGroup, v1alpha1.KindCluster)
	}
	return ig, nil
}

// Encode writes one object as YAML, filling in its apiVersion and kind. It
// sets them on a shallow copy: the caller's object is not written, so
// goroutines may encode the same object at once.
func Encode(obj any) ([]byte, error) {
	var cp any
	switch o := obj.(type) {
	case *v1alpha1.Cluster:
		c := *o
		cp = &c
	case *v1alpha1.InstanceGroup:
		ig := *o
		cp = &ig
	default:
		return nil, fmt.Errorf("encode: unsupported type %T", obj)
	}
	if err := SetTypeMeta(cp); err != nil {
		return nil, err
	}
	return yaml.Marshal(cp)
}

// SetTypeMeta fills in the apiVersion and kind of obj in place, for callers
// that print objects with another encoder.
func SetTypeMeta(obj any) error {
	switch o := obj.(type) {
	case *v1alpha1.Cluster:
		o.TypeMeta = v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindCluster}
	case *v1alpha1.InstanceGroup:
		o.TypeMeta = v1alpha1.TypeMeta{APIVersion: v1alpha1.GroupVersion, Kind: v1alpha1.KindInstanceGroup}
	default:
		return fmt.Errorf("encode: unsupported type %T", obj)
	}
	return nil
}

// EncodeAll writes objects as one multi-document YAML stream.
func EncodeAll(objs ...any) ([]byte, error) {
	var buf bytes.Buffer
	for i, obj := range objs {
		b, err := Encode(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// splitDocuments splits a YAML stream into its documents with
// apimachinery's YAMLReader, dropping documents that hold only comments or
// whitespace.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read YAML: %w", err)
		}
		// The reader keeps a separator that opens the stream (or follows
		// another) in the document; drop it, so that line numbers in
		// errors count from the document's first line of content.
		for bytes.HasPrefix(doc, []byte("---")) {
			_, doc, _ = bytes.Cut(doc, []byte("\n"))
		}
		if hasContent(doc) {
			docs = append(docs, doc)
		}
	}
}

func hasContent(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}

// decodeStrict rejects unknown and duplicate fields, naming each by its full
// path (`unknown field "spec.networking.subnet"`), and matches field names
// case-sensitively as Kubernetes does.
func decodeStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("parse YAML: %w", err)
	}
	strict, err := sjson.UnmarshalStrict(j, obj)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = strings.TrimPrefix(e.Error(), "json: ")
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}
