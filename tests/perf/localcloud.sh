#!/usr/bin/env bash
# Measures the local cloud figures for docs/performance.md (needs root).
set -euo pipefail
cd "$(dirname "$0")/../.."
HULL_PERF=1 go test ./tests/localcloud -run TestPerfUpdateToBooted -count=1 -v -timeout 20m | grep FIGURE
