#!/usr/bin/env bash
# Validate deploy/ offline (tests/unit/test_deploy.py runs this; so can CI and people):
#   1. deploy/compose.yaml against the Compose specification (check-jsonschema's vendored schema);
#   2. deploy/kubernetes rendered -- by `kubectl kustomize` where kubectl is on PATH, else by
#      scripts/kustomize_lite.py (the kustomize features deploy/kubernetes uses, and an error on any
#      other) -- against the Kubernetes schemas of $K8S_VERSION (kubernetes-validate --strict:
#      unknown fields are errors); with kubectl, the two renderings must also be the same
#      (kustomize_lite.py --compare), so the one CI uses without kubectl is checked against kustomize;
#   3. every WMIPUT_* variable set there is a real setting of the process it is given to, and
#      the files, mounts and grace periods fit together (scripts/check_deploy_env.py).
# Needs the `test` extra (check-jsonschema, kubernetes-validate, PyYAML); kubectl is optional.
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

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "== compose: deploy/compose.yaml against the compose spec (check-jsonschema $("$PYTHON" -m check_jsonschema --version | awk '{print $NF}'))"
"$PYTHON" -m check_jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml || failed+=("compose schema")

k8s_args=()
rendered=""
if command -v kubectl >/dev/null; then
  echo "== kubernetes: deploy/kubernetes rendered by kubectl kustomize ($(kubectl version --client 2>/dev/null | grep -i '^kustomize' || echo 'kustomize version unknown')), and by scripts/kustomize_lite.py to compare"
  if kubectl kustomize deploy/kubernetes >"$tmp/kubernetes.yaml" 2>"$tmp/kustomize.err"; then
    rendered="$tmp/kubernetes.yaml"
  else
    cat "$tmp/kustomize.err" >&2
    failed+=("kubectl kustomize")
  fi
  if "$PYTHON" scripts/kustomize_lite.py deploy/kubernetes >"$tmp/kubernetes-lite.yaml"; then
    if [ -n "$rendered" ]; then
      "$PYTHON" scripts/kustomize_lite.py --compare "$rendered" "$tmp/kubernetes-lite.yaml" \
        || failed+=("kustomize_lite differs from kubectl kustomize")
    fi
  else
    failed+=("kustomize_lite")
  fi
else
  echo "== kubernetes: deploy/kubernetes rendered by scripts/kustomize_lite.py (kubectl is not on PATH)"
  if "$PYTHON" scripts/kustomize_lite.py deploy/kubernetes >"$tmp/kubernetes.yaml"; then
    rendered="$tmp/kubernetes.yaml"
  else
    failed+=("kustomize_lite")
  fi
fi
if [ -n "$rendered" ]; then
  k8s_args=(--kubernetes "$rendered")
  echo "== kubernetes: the rendering against Kubernetes $K8S_VERSION, strict (kubernetes-validate $("$PYTHON" -m kubernetes_validate --version))"
  "$PYTHON" -m kubernetes_validate -k "$K8S_VERSION" --strict --quiet "$rendered" \
    && echo "ok -- $(grep -c '^kind:' "$rendered") resources valid" \
    || failed+=("kubernetes schema")
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
