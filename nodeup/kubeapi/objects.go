package kubeapi

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	gvrSecret             = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	gvrConfigMap          = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	gvrServiceAccount     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	gvrService            = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrClusterRole        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	gvrClusterRoleBinding = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}
	gvrDaemonSet          = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	gvrDeployment         = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func obj(gvr schema.GroupVersionResource, kind, name string, o runtime.Object) Object {
	return Object{GVR: gvr, Kind: kind, Name: name, Obj: o}
}

const (
	kubeSystem = "kube-system"
	// BootstrapGroup is the extra group of hull's node bootstrap token.
	BootstrapGroup = "system:bootstrappers:hull:default-node-token"
)

func meta(name, ns string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "hull"}}
}

// BootstrapTokenSecret is the Secret the apiserver's bootstrap-token
// authenticator reads. No expiration: the token lives as long as the
// cluster, like kops's; rotate it by deleting it from the store.
func BootstrapTokenSecret(t Token) Object {
	name := "bootstrap-token-" + t.ID
	return obj(gvrSecret, "Secret", name, &corev1.Secret{
		ObjectMeta: meta(name, kubeSystem),
		Type:       corev1.SecretType("bootstrap.kubernetes.io/token"),
		StringData: map[string]string{
			"description":                    "hull node bootstrap token",
			"token-id":                       t.ID,
			"token-secret":                   t.Secret,
			"usage-bootstrap-authentication": "true",
			"usage-bootstrap-signing":        "true",
			"auth-extra-groups":              BootstrapGroup,
		},
	})
}

func groupBinding(name, group, role string) Object {
	return obj(gvrClusterRoleBinding, "ClusterRoleBinding", name, &rbacv1.ClusterRoleBinding{
		ObjectMeta: meta(name, ""),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: group}},
	})
}

// NodeRoutesRole lets every node list and watch Nodes: nodeup's route
// controller on each machine routes the other nodes' pod CIDRs via their
// addresses (host-gw), and the Node authorizer alone only lets a kubelet
// read its own Node.
const NodeRoutesRole = "hull:node-routes"

// BootstrapRBAC lets bootstrapping kubelets create CSRs and has the
// controller-manager's csrapprover approve them, and the renewals of
// nodes' own certificates (kubeadm's bindings); and lets nodes read the
// Node list their pod routes come from.
func BootstrapRBAC() []Object {
	return []Object{
		groupBinding("hull:kubelet-bootstrap", "system:bootstrappers", "system:node-bootstrapper"),
		groupBinding("hull:node-autoapprove-bootstrap", "system:bootstrappers", "system:certificates.k8s.io:certificatesigningrequests:nodeclient"),
		groupBinding("hull:node-autoapprove-certificate-rotation", "system:nodes", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"),
		obj(gvrClusterRole, "ClusterRole", NodeRoutesRole, &rbacv1.ClusterRole{
			ObjectMeta: meta(NodeRoutesRole, ""),
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}}},
		}),
		groupBinding(NodeRoutesRole, "system:nodes", NodeRoutesRole),
	}
}
