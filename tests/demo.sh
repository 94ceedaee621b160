#!/usr/bin/env bash
# make demo: a real 1 control-plane + 2 node Kubernetes cluster on the local cloud.
set -euo pipefail
cd "$(dirname "$0")/.."
HULL=$PWD/bin/hull
NAME=${NAME:-demo.example.com}
VERSION=${KUBERNETES_VERSION:-1.37.2}
export HULL_STATE=${HULL_STATE:-file://${XDG_DATA_HOME:-$HOME/.local/share}/hull/demo-state}
KUBECONFIG_OUT=${KUBECONFIG_OUT:-$HOME/.kube/hull-demo.config}

if [ "$(id -u)" != 0 ]; then
  echo "make demo runs machines in network namespaces and cgroups: run it as root (sudo make demo)." >&2
  exit 1
fi

echo ">> building assets and the machine image for Kubernetes $VERSION (cached after the first run)"
$HULL image build --kubernetes-version "$VERSION"

if $HULL get clusters "$NAME" >/dev/null 2>&1; then
  echo ">> cluster $NAME already exists in $HULL_STATE"
else
  $HULL create cluster "$NAME" --kubernetes-version "$VERSION" --control-plane-count 1 --node-count 2
fi
$HULL update cluster "$NAME" --yes
$HULL validate cluster "$NAME" --wait 10m
$HULL export kubeconfig "$NAME" --admin --kubeconfig "$KUBECONFIG_OUT"

KUBECTL=$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/hull/assets/v"$VERSION"/bin/kubectl 2>/dev/null || command -v kubectl || echo kubectl)
cat <<MSG

Your cluster $NAME is ready.
  export HULL_STATE=$HULL_STATE
  export KUBECONFIG=$KUBECONFIG_OUT
  $KUBECTL get nodes -o wide
  $HULL get instances --name $NAME
  $HULL validate cluster $NAME

Delete it with:
  $HULL delete cluster $NAME --yes
MSG
