#!/usr/bin/env bash
# Validate deploy/ offline (tests/unit/test_deploy.py runs this; so can CI and people):
#   1. deploy/compose.yaml against the Compose specification (check-jsonschema's vendored schema);
#   2. `kubectl kustomize deploy/kubernetes` against the Kubernetes schemas of $K8S_VERSION
#      (kubernetes-validate --strict: unknown fields are errors);
#   3. every WMIPUT_* variable set there is a real setting of the process it is given to, and
#      the files, mounts and grace periods fit together (scripts/check_deploy_env.py).
# Needs kubectl (kustomize is built in) and the `test` extra (check-jsonschema, kubernetes-validate).
# Environment: PYTHON (default .venv/bin/python, else python3), K8S_VERSION (default 1.31.0).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
K8S_VERSION="${K8S_VERSION:-1.31.0}"
failed=()

missing=()
"$PYTHON" -c 'import check_jsonschema' 2>/dev/null || missing+=("check-jsonschema")
"$PYTHON" -c 'import kubernetes_validate' 2>/dev/null || missing+=("kubernetes-validate")
"$PYTHON" -c 'import yaml' 2>/dev/null || missing+=("PyYAML")
if [ ${#missing[@]} -gt 0 ]; then
  echo "check_deploy: ${missing[*]} not installed for $PYTHON (pip install -e '.[test]')" >&2
  exit 2
fi
if ! command -v kubectl >/dev/null; then
  echo "check_deploy: kubectl is not on PATH (it renders deploy/kubernetes with its built-in kustomize)" >&2
  exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== compose: deploy/compose.yaml against the compose spec (check-jsonschema $("$PYTHON" -m check_jsonschema --version | awk '{print $NF}'))"
"$PYTHON" -m check_jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml || failed+=("compose schema")

echo "== kubernetes: kubectl kustomize deploy/kubernetes against Kubernetes $K8S_VERSION, strict (kubernetes-validate $("$PYTHON" -m kubernetes_validate --version))"
k8s_args=()
if kubectl kustomize deploy/kubernetes >"$tmp/kubernetes.yaml" 2>"$tmp/kustomize.err"; then
  k8s_args=(--kubernetes "$tmp/kubernetes.yaml")
  "$PYTHON" -m kubernetes_validate -k "$K8S_VERSION" --strict --quiet "$tmp/kubernetes.yaml" \
    && echo "ok -- $(grep -c '^kind:' "$tmp/kubernetes.yaml") resources valid" \
    || failed+=("kubernetes schema")
else
  cat "$tmp/kustomize.err" >&2
  failed+=("kustomize build")
fi

echo "== settings: WMIPUT_* variables, mounts and grace periods"
"$PYTHON" scripts/check_deploy_env.py --compose deploy/compose.yaml \
  ${k8s_args[@]+"${k8s_args[@]}"} \
  --scan deploy/compose.yaml --scan deploy/kubernetes || failed+=("settings")

if [ ${#failed[@]} -gt 0 ]; then
  echo "check_deploy: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "check_deploy: all good"
