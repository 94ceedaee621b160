#!/usr/bin/env bash
# make demo: build hull and create the demo cluster's spec in a demo state store.
set -euo pipefail
cd "$(dirname "$0")/.."
HULL=./bin/hull
NAME=${NAME:-demo.example.com}
export HULL_STATE=${HULL_STATE:-file://${XDG_DATA_HOME:-$HOME/.local/share}/hull/demo-state}

if $HULL get clusters "$NAME" >/dev/null 2>&1; then
  echo "Cluster $NAME already exists in $HULL_STATE."
else
  $HULL create cluster "$NAME" --control-plane-count 1 --node-count 2
fi
echo
$HULL get clusters
echo
$HULL get instancegroups --name "$NAME"
echo
$HULL get keypairs --name "$NAME"
cat <<MSG

The demo cluster spec is in $HULL_STATE.
  export HULL_STATE=$HULL_STATE
  ./bin/hull edit cluster $NAME          # change it
  ./bin/hull delete cluster $NAME --yes  # remove it
MSG
