#!/bin/sh
# Validates the deploy manifests; exits non-zero on the first problem.
#
#   pip install kubernetes-validate    (and kubectl, for its built-in kustomize)
#   deploy/validate.sh [KUBERNETES_VERSION...]     default: 1.29.0 1.33.0
#
# 1. deploy/base/tracer.yaml and the rendered deploy/privileged/ overlay against the
#    Kubernetes schemas in strict mode (unknown fields are errors). kubernetes-validate only
#    warns, and exits 0, for a kind it has no schema for; here any warning is a failure, so a
#    resource can never pass unchecked.
#    Each component in deploy/components/ (the deploy knobs) is rendered on top of base in a
#    temporary overlay and validated the same way, and so is deploy/examples/all-components/;
#    a component that renders to nothing new (its patch lost) fails.
# 2. deploy/podmonitor.yaml: kubernetes-validate has no schemas for CRDs such as the
#    Prometheus Operator's PodMonitor, so it is not schema-validated. Instead the script
#    checks that it is still unknown to kubernetes-validate (so step 1's rule is not hiding
#    anything) and that it agrees with the DaemonSet: same namespace, a selector matching
#    the pod labels, and a port name the container declares.
set -eu
cd "$(dirname "$0")"
[ "$#" -gt 0 ] || set -- 1.29.0 1.33.0
work=$(mktemp -d)
if command -v kubectl >/dev/null 2>&1; then
    render() { kubectl kustomize "$1"; }
elif command -v kustomize >/dev/null 2>&1; then
    render() { kustomize build "$1"; }
else
    echo "FAIL deploy/validate.sh needs kubectl (kubectl kustomize) or kustomize to render the overlays"
    exit 1
fi
command -v kubernetes-validate >/dev/null 2>&1 || {
    echo "FAIL deploy/validate.sh needs kubernetes-validate: pip install kubernetes-validate"
    exit 1
}
# Overlays for the components live under deploy/ while rendering: kustomize refuses absolute
# paths, and relative ones must stay inside the repository.
overlays=".validate-$$"
trap 'rm -rf "$work" "$overlays"' EXIT
render base >"$work/base.yaml"
render privileged >"$work/privileged.yaml"
render examples/all-components >"$work/all-components.yaml"
rendered="base/tracer.yaml $work/base.yaml $work/privileged.yaml $work/all-components.yaml"
for component in components/*/; do
    name=$(basename "$component")
    mkdir -p "$overlays/$name"
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\ncomponents:\n  - ../../components/%s\n' \
        "$name" >"$overlays/$name/kustomization.yaml"
    render "$overlays/$name" >"$work/component-$name.yaml"
    if cmp -s "$work/base.yaml" "$work/component-$name.yaml"; then
        echo "FAIL components/$name changes nothing in the rendered base"
        exit 1
    fi
    rendered="$rendered $work/component-$name.yaml"
done
for version in "$@"; do
    for file in $rendered; do
        out=$(kubernetes-validate --strict --quiet -k "$version" "$file") || {
            echo "$out"
            echo "FAIL $file against Kubernetes $version"
            exit 1
        }
        if [ -n "$out" ]; then
            echo "$out"
            echo "FAIL $file against Kubernetes $version: warnings mean a resource went unchecked"
            exit 1
        fi
        echo "ok   $file: Kubernetes $version, strict"
    done
    out=$(kubernetes-validate --strict -k "$version" podmonitor.yaml)
    case "$out" in
    *WARN*PodMonitor*) ;;
    *)
        echo "$out"
        echo "FAIL podmonitor.yaml: kubernetes-validate now knows PodMonitor; validate it in step 1"
        exit 1
        ;;
    esac
done
python3 - base/tracer.yaml podmonitor.yaml <<'EOF'
import sys, yaml
base = list(yaml.safe_load_all(open(sys.argv[1])))
monitor = yaml.safe_load(open(sys.argv[2]))
daemonset = next(r for r in base if r and r["kind"] == "DaemonSet")
pod = daemonset["spec"]["template"]
ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
problems = []
if (monitor["apiVersion"], monitor["kind"]) != ("monitoring.coreos.com/v1", "PodMonitor"):
    problems.append("not a monitoring.coreos.com/v1 PodMonitor")
if monitor["metadata"]["namespace"] != daemonset["metadata"]["namespace"]:
    problems.append("namespace differs from the DaemonSet's")
selector = monitor["spec"]["selector"]["matchLabels"]
if any(pod["metadata"]["labels"].get(k) != v for k, v in selector.items()):
    problems.append(f"selector {selector} does not match the pod labels")
for endpoint in monitor["spec"]["podMetricsEndpoints"]:
    if endpoint["port"] not in ports:
        problems.append(f"port {endpoint['port']!r} is not a container port ({sorted(ports)})")
annotations = pod["metadata"].get("annotations", {})
if annotations.get("prometheus.io/port") not in {str(p["containerPort"]) for c in pod["spec"]["containers"] for p in c.get("ports", [])}:
    problems.append("prometheus.io/port annotation names no container port")
for problem in problems:
    print(f"FAIL podmonitor.yaml: {problem}")
sys.exit(1 if problems else 0)
EOF
echo "ok   podmonitor.yaml: no schema for CRDs in kubernetes-validate; checked against the DaemonSet instead"
