"""Render a kustomization without kubectl: exactly the kustomize features deploy/kubernetes uses.

    python scripts/kustomize_lite.py DIR                         # like `kubectl kustomize DIR`
    python scripts/kustomize_lite.py --compare REAL.yaml LITE.yaml

scripts/check_deploy.sh renders deploy/kubernetes with `kubectl kustomize` where kubectl is
installed and with this script where it is not (CI), and where both are there it compares the two
renderings (--compare), so this one is checked against the real kustomize.

What it implements, as kustomize does it:

- resources: YAML files inside DIR (one or more documents each), of the kinds in KINDS, without a
  namespace;
- labels: `pairs`, with `includeTemplates` (pod templates, CronJob job templates, StatefulSet
  volumeClaimTemplates) or without (metadata.labels only); the generated ConfigMaps get them too;
- configMapGenerator: `name` and `envs` (KEY=VALUE lines, # comments), named NAME-HASH where HASH
  is 10 characters of a SHA-256 of the data (kustomize's recipe, see config_map_hash); references
  to NAME in pod specs (envFrom configMapRef, env valueFrom configMapKeyRef, volumes
  configMap and projected configMap, of containers and initContainers) become NAME-HASH;
- images: `name` with `newName` and/or `newTag`, applied to every containers[]/initContainers[]
  image whose name (without tag or digest) is `name`.

Anything else -- another kustomization field, another option of these, a remote or directory
resource, a kind it does not know, a namespace, an env line without `=` -- is an error (exit 1),
never ignored: whatever it renders is what kustomize renders, or it renders nothing.
Output: the resources as YAML documents separated by `---`, ordered as kustomize orders them.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FIELDS = {"apiVersion", "kind", "resources", "labels", "configMapGenerator", "images"}
LABEL_FIELDS = {"pairs", "includeTemplates", "includeSelectors"}
GENERATOR_FIELDS = {"name", "envs", "behavior"}
IMAGE_FIELDS = {"name", "newName", "newTag"}

# (apiVersion, kind) of the resources it knows what kustomize does to (labels, names, images).
KINDS = {
    ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"), ("batch/v1", "CronJob"),
    ("policy/v1", "PodDisruptionBudget"), ("networking.k8s.io/v1", "NetworkPolicy"),
}
# Where `labels` with includeTemplates puts the labels besides metadata.labels (kustomize's
# metadataLabelsFieldSpecs); "[]" is every item of a list.
TEMPLATE_LABELS = {
    "Deployment": ["spec/template/metadata/labels"],
    "DaemonSet": ["spec/template/metadata/labels"],
    "StatefulSet": ["spec/template/metadata/labels", "spec/volumeClaimTemplates[]/metadata/labels"],
    "Job": ["spec/template/metadata/labels"],
    "CronJob": ["spec/jobTemplate/metadata/labels", "spec/jobTemplate/spec/template/metadata/labels"],
}
POD_SPECS = {
    "Deployment": ("spec", "template", "spec"), "DaemonSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"), "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# kustomize's output order (resid.Gvk.IsLessThan): these kinds first, in this order; then the
# rest by group_version_kind; then by name.
ORDER_FIRST = ["Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
               "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
               "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
               "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget"]
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")  # k8s validation.IsEnvVarName
# A generated name's suffix: 10 hex digits with 0 1 3 a e replaced by g h k m t (no vowels).
HASH_SUFFIX = re.compile(r"-[2456789bcdfghkmt]{10}$")


class Unsupported(Exception):
    """The kustomization asks for something this renderer does not do (or kustomize would refuse)."""


# ---------------------------------------------------------------- YAML as kustomize reads it


class _Loader(yaml.SafeLoader):
    """YAML as kustomize (go-yaml v3, then a round trip through JSON) reads it, not as PyYAML's
    YAML 1.1: only true/false are booleans (yes, no, on, off are strings); 0o17, 017, 0x1f, 0b1
    and 1_000 are integers; 1e3 and 1.0 are numbers and whole ones integers (1000, 1); base-60
    numbers (1:20) are strings; a duplicate key is an error; so is an unquoted timestamp (kustomize
    rewrites it as RFC 3339) and anything JSON cannot hold (.inf, !!binary, !!set, a key that is
    not a string)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = self.construct_scalar(node).replace("_", "")
        sign, digits = (-1 if text[0] == "-" else 1), text.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            return sign * int(digits, 8)  # YAML 1.1 octal, which go-yaml v3 still reads
        return sign * int(digits, 0)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float | int:
        text = self.construct_scalar(node).replace("_", "")
        value = math.inf if text.lower().lstrip("+-") in (".inf", ".nan") else float(text)
        if not math.isfinite(value):
            raise Unsupported(f"{_at(node)}: {text} is not a number JSON can hold (quote it)")
        return int(value) if value.is_integer() and abs(value) < 1e21 else value  # as Go's JSON writes it

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        raise Unsupported(f"{_at(node)}: {self.construct_scalar(node)!r} is an unquoted timestamp, which "
                          "kustomize rewrites (as RFC 3339): quote it")

    def construct_undefined(self, node: yaml.Node) -> Any:
        raise Unsupported(f"{_at(node)}: the tag {node.tag} is not supported")


def _at(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1} column {node.start_mark.column + 1}"


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                           "tag:yaml.org,2002:value")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|0[0-7_]+|0|[1-9][0-9_]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _Loader.construct_undefined)
_Loader.add_constructor(None, _Loader.construct_undefined)


def _json_like(value: Any, where: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise Unsupported(f"{where}: the key {k!r} is not a string (quote it)")
            _json_like(v, where)
    elif isinstance(value, list):
        for v in value:
            _json_like(v, where)
    elif not (value is None or isinstance(value, (str, bool, int, float))):
        raise Unsupported(f"{where}: {value!r} is not a JSON value")


def load_documents(path: Path) -> list[Any]:
    try:
        docs = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader) if d is not None]
    except yaml.YAMLError as e:
        raise Unsupported(f"{path}: not valid YAML: {e}") from e
    except UnicodeDecodeError as e:
        raise Unsupported(f"{path}: not UTF-8: {e}") from e
    except Unsupported as e:
        raise Unsupported(f"{path}: {e}") from e
    _json_like(docs, str(path))
    return docs


class _Dumper(yaml.SafeDumper):
    """Quotes like kubectl kustomize: "double" where a string needs quotes."""

    def choose_scalar_style(self) -> str | None:
        style = super().choose_scalar_style()
        if style == "'" and not self.event.implicit[0] or style == "" and self.event.value in ("y", "Y", "n", "N"):
            return '"'  # a string that reads as another type unquoted (YAML 1.1's y and n included)
        return style


def dump_documents(docs: list[dict[str, Any]]) -> str:
    return "---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True,
                                  width=1 << 16) for d in docs)


# ---------------------------------------------------------------- the kustomization


def _check_fields(where: str, entry: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise Unsupported(f"{where}: expected a mapping, got {type(entry).__name__}")
    unknown = sorted(str(k) for k in entry if k not in allowed)
    if unknown:
        raise Unsupported(f"{where}: {', '.join(unknown)}: not supported by kustomize_lite (it supports only "
                          f"{', '.join(sorted(allowed))}); render with `kubectl kustomize`, or teach "
                          "scripts/kustomize_lite.py")
    return entry


def _list(where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unsupported(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Unsupported(f"{where}: expected a non-empty string, got {value!r} (quote it)")
    return value


def _file_in(root: Path, where: str, name: Any) -> Path:
    name = _string(where, name)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", name) or name.startswith(("github.com/", "git@")):
        raise Unsupported(f"{where}: {name}: remote resources are not supported")
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise Unsupported(f"{where}: {name} is outside {root} (kustomize's load restrictor refuses it)")
    if path.is_dir():
        raise Unsupported(f"{where}: {name} is a directory (a kustomization): only files are supported")
    if not path.is_file():
        raise Unsupported(f"{where}: {name}: no such file")
    return path


def find_kustomization(root: Path) -> Path:
    if not root.is_dir():
        raise Unsupported(f"{root}: not a directory")
    found = [root / f for f in KUSTOMIZATION_FILES if (root / f).is_file()]
    if not found:
        raise Unsupported(f"{root}: no {', '.join(KUSTOMIZATION_FILES)}")
    if len(found) > 1:
        raise Unsupported(f"{root}: more than one kustomization file ({', '.join(f.name for f in found)})")
    return found[0]


def build(root: Path) -> list[dict[str, Any]]:
    kfile = find_kustomization(root)
    docs = load_documents(kfile)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise Unsupported(f"{kfile}: expected one mapping")
    k = _check_fields(str(kfile), docs[0], FIELDS)
    if k.get("apiVersion", "kustomize.config.k8s.io/v1beta1") != "kustomize.config.k8s.io/v1beta1":
        raise Unsupported(f"{kfile}: apiVersion {k['apiVersion']!r} is not kustomize.config.k8s.io/v1beta1")
    if k.get("kind", "Kustomization") != "Kustomization":
        raise Unsupported(f"{kfile}: kind {k['kind']!r} is not supported (only Kustomization)")

    resources: list[dict[str, Any]] = []
    for i, name in enumerate(_list(f"{kfile}: resources", k.get("resources"))):
        path = _file_in(root, f"{kfile}: resources[{i}]", name)
        resources += [check_resource(path, d) for d in load_documents(path)]

    generated = {}  # base name -> name with its hash suffix
    for i, g in enumerate(_list(f"{kfile}: configMapGenerator", k.get("configMapGenerator"))):
        where = f"{kfile}: configMapGenerator[{i}]"
        _check_fields(where, g, GENERATOR_FIELDS)
        if g.get("behavior", "create") != "create":
            raise Unsupported(f"{where}: behavior {g['behavior']!r}: only create is supported (merge and replace "
                              "need a base)")
        name = _string(f"{where}.name", g.get("name"))
        if name in generated or any(r["kind"] == "ConfigMap" and r["metadata"]["name"] == name for r in resources):
            raise Unsupported(f"{where}: a second ConfigMap {name} (kustomize refuses it without behavior: merge)")
        data: dict[str, str] = {}
        envs = _list(f"{where}.envs", g.get("envs"))
        if not envs:
            raise Unsupported(f"{where}: no envs: only envs files are supported (not literals or files)")
        for j, env in enumerate(envs):
            for key, value in read_env_file(_file_in(root, f"{where}.envs[{j}]", env)):
                if key in data:
                    raise Unsupported(f"{where}: {key} is set twice (kustomize refuses a duplicate key)")
                data[key] = value
        hashed = f"{name}-{config_map_hash(data)}"
        generated[name] = hashed
        resources.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": hashed}, "data": data})

    ids = set()
    for r in resources:
        rid = (r["apiVersion"].rpartition("/")[0], r["kind"], r["metadata"]["name"])
        if rid in ids:
            raise Unsupported(f"{rid[1]} {rid[2]} is defined twice (kustomize refuses a duplicate id)")
        ids.add(rid)

    for i, label in enumerate(_list(f"{kfile}: labels", k.get("labels"))):
        where = f"{kfile}: labels[{i}]"
        _check_fields(where, label, LABEL_FIELDS)
        if label.get("includeSelectors", False) is not False:
            raise Unsupported(f"{where}: includeSelectors: only false (the default) is supported")
        templates = label.get("includeTemplates", False)
        if not isinstance(templates, bool):
            raise Unsupported(f"{where}: includeTemplates: expected true or false, got {templates!r}")
        pairs = label.get("pairs")
        if not isinstance(pairs, dict) or not pairs:
            raise Unsupported(f"{where}: pairs: expected a mapping of labels")
        for key, value in pairs.items():
            _string(f"{where}: pairs key", key)
            if not isinstance(value, str):
                raise Unsupported(f"{where}: pairs: {key}: {value!r} is not a string (quote it)")
        for r in resources:
            add_labels(r, pairs, templates)

    for i, image in enumerate(_list(f"{kfile}: images", k.get("images"))):
        where = f"{kfile}: images[{i}]"
        _check_fields(where, image, IMAGE_FIELDS)
        name = _string(f"{where}.name", image.get("name"))
        new_name = _string(f"{where}.newName", image["newName"]) if "newName" in image else ""
        new_tag = _string(f"{where}.newTag", image["newTag"]) if "newTag" in image else ""
        for r in resources:
            for c in containers(r):
                if isinstance(c.get("image"), str):
                    c["image"] = set_image(c["image"], name, new_name, new_tag)

    for r in resources:
        rename_config_maps(r, generated)
    return sorted(resources, key=sort_key)


def check_resource(path: Path, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise Unsupported(f"{path}: a document is not a mapping")
    api, kind = doc.get("apiVersion"), doc.get("kind")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise Unsupported(f"{path}: {kind} without metadata.name")
    where = f"{path}: {kind} {meta['name']}"
    if (api, kind) not in KINDS:
        raise Unsupported(f"{where}: apiVersion {api!r} kind {kind!r} is not a kind kustomize_lite knows "
                          f"({', '.join(sorted(f'{a} {k}' for a, k in KINDS))})")
    if "namespace" in meta:
        raise Unsupported(f"{where}: metadata.namespace is not supported (the base is namespace-agnostic)")
    if not isinstance(meta.get("labels") or {}, dict):
        raise Unsupported(f"{where}: metadata.labels is not a mapping")
    for spec in pod_specs(doc):
        if "ephemeralContainers" in spec:
            raise Unsupported(f"{where}: ephemeralContainers are not supported")
    return doc


def read_env_file(path: Path) -> Iterator[tuple[str, str]]:
    """KEY=VALUE lines as kustomize reads an envs file: leading space and # lines skipped, the value
    taken verbatim (no quotes removed). A line without = is refused (kustomize versions differ)."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise Unsupported(f"{path}: not UTF-8: {e}") from e
    for n, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):  # lines as Go's bufio.ScanLines
        line = line.removesuffix("\r").lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise Unsupported(f"{path}:{n}: {key!r} has no '=': not supported (kustomize would take it from "
                              "the environment or make it empty)")
        if not ENV_NAME.fullmatch(key):
            raise Unsupported(f"{path}:{n}: {key!r} is not a valid environment variable name")
        yield key, value


def config_map_hash(data: dict[str, str]) -> str:
    """kustomize's ConfigMap name suffix: SHA-256 of {"data","kind","name"} as Go's encoding/json
    writes it, its first 10 hex digits with 0 1 3 a e made g h k m t. The name is empty: kustomize
    5 looks it up as one field called "metadata/name" (api/hasher), which finds nothing. Nothing
    relies on the suffixes being kustomize's, but they are (check_deploy.sh compares them aside)."""
    encoded = json.dumps({"data": data, "kind": "ConfigMap", "name": ""}, sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        encoded = encoded.replace(ch, esc)
    digest = hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


# ---------------------------------------------------------------- transformations


def add_labels(r: dict[str, Any], pairs: dict[str, str], templates: bool) -> None:
    paths = ["metadata/labels"] + (TEMPLATE_LABELS.get(r["kind"], []) if templates else [])
    for path in paths:
        for labels in _walk_create(r, path.split("/"), f"{r['kind']} {r['metadata']['name']}"):
            labels.update(pairs)


def _walk_create(node: dict[str, Any], parts: list[str], where: str) -> Iterator[dict[str, Any]]:
    """The mappings at a path, made where missing (kustomize's create: true); "x[]" is each item of list x."""
    if not parts:
        yield node
        return
    part, rest = parts[0], parts[1:]
    if part.endswith("[]"):
        items = node.get(part[:-2])
        if items is None:
            return
        if not isinstance(items, list):
            raise Unsupported(f"{where}: {part[:-2]} is not a list")
        for item in items:
            if not isinstance(item, dict):
                raise Unsupported(f"{where}: an item of {part[:-2]} is not a mapping")
            yield from _walk_create(item, rest, where)
        return
    if node.get(part) is None:
        node[part] = {}
    if not isinstance(node[part], dict):
        raise Unsupported(f"{where}: {part} is not a mapping")
    yield from _walk_create(node[part], rest, where)


def pod_specs(r: dict[str, Any]) -> list[dict[str, Any]]:
    node: Any = r
    for key in POD_SPECS.get(r.get("kind", ""), ()):
        node = node.get(key) if isinstance(node, dict) else None
    return [node] if r.get("kind") in POD_SPECS and isinstance(node, dict) else []


def containers(r: Any) -> Iterator[dict[str, Any]]:
    """Every item of a containers or initContainers list anywhere in r (kustomize's images LegacyFilter)."""
    if isinstance(r, dict):
        for key, value in r.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from containers(value)
    elif isinstance(r, list):
        for item in r:
            yield from containers(item)


def split_image(image: str) -> tuple[str, str, str]:
    """name, tag, digest of [host[:port]/]path[:tag][@digest] (kustomize's image.Split)."""
    slash = image.find("/")
    search, offset = (image[slash:], slash) if slash > 0 else (image, 0)
    at, colon = search.find("@"), search.find(":")
    if colon < 0 and at < 0:
        return image, "", ""
    if at >= 0 and (at < colon or colon < 0):
        return image[:at + offset], "", image[at + offset + 1:]
    if at >= 0:
        return image[:colon + offset], image[colon + offset + 1:at + offset], image[at + offset + 1:]
    return image[:colon + offset], image[colon + offset + 1:], ""


def set_image(image: str, name: str, new_name: str, new_tag: str) -> str:
    if not re.fullmatch(re.escape(name) + r"(:[a-zA-Z0-9_.{}-]*)?(@[a-zA-Z][a-zA-Z0-9]*:[a-zA-Z0-9_.{}-]*)?", image):
        return image
    old_name, tag, digest = split_image(image)
    if new_tag:  # a new tag replaces both the old tag and digest
        tag, digest = new_tag, ""
    out = new_name or old_name
    return out + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def rename_config_maps(r: dict[str, Any], generated: dict[str, str]) -> None:
    """References to a generated ConfigMap by its base name get its hashed name (kustomize's
    nameReference for ConfigMap, in the pod specs of the kinds in POD_SPECS)."""

    def rename(ref: Any) -> None:
        if isinstance(ref, dict) and ref.get("name") in generated:
            ref["name"] = generated[ref["name"]]

    for spec in pod_specs(r):
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for src in c.get("envFrom") or []:
                rename(src.get("configMapRef"))
            for e in c.get("env") or []:
                rename((e.get("valueFrom") or {}).get("configMapKeyRef"))
        for v in spec.get("volumes") or []:
            rename(v.get("configMap"))
            for src in (v.get("projected") or {}).get("sources") or []:
                rename(src.get("configMap"))


def sort_key(r: dict[str, Any]) -> tuple[int, str, str]:
    kind = r["kind"]
    if kind in ORDER_FIRST:
        order = ORDER_FIRST.index(kind) - len(ORDER_FIRST)
    elif kind in ORDER_LAST:
        order = ORDER_LAST.index(kind) + 1
    else:
        order = 0
    group, _, version = r["apiVersion"].rpartition("/")
    return order, f"{group or '~G'}_{version}_{kind}", r["metadata"]["name"]


# ---------------------------------------------------------------- comparing two renderings


def normalize(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The documents by (apiVersion, kind, name), with a ConfigMap's hash suffix (the ConfigMap's
    own name and references that resolve to it) made `-<hash>`: two renderings compare equal
    whatever their hashes, but a reference that does not resolve to the hashed ConfigMap stays as
    it is, and differs."""
    hashed = {d["metadata"]["name"] for d in docs if d.get("kind") == "ConfigMap"
              and HASH_SUFFIX.search(d["metadata"]["name"])}

    def mark(name: str) -> str:
        return HASH_SUFFIX.sub("-<hash>", name) if name in hashed else name

    out = {}
    for d in copy.deepcopy(docs):
        if d.get("kind") == "ConfigMap":
            d["metadata"]["name"] = mark(d["metadata"]["name"])
        for spec in pod_specs(d):
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                for src in c.get("envFrom") or []:
                    if isinstance(src.get("configMapRef"), dict):
                        src["configMapRef"]["name"] = mark(src["configMapRef"].get("name", ""))
                for e in c.get("env") or []:
                    ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
                    if isinstance(ref, dict):
                        ref["name"] = mark(ref.get("name", ""))
            for v in spec.get("volumes") or []:
                refs = [v.get("configMap")] + [s.get("configMap") for s in (v.get("projected") or {}).get("sources")
                                                or []]
                for ref in refs:
                    if isinstance(ref, dict):
                        ref["name"] = mark(ref.get("name", ""))
        out[(d.get("apiVersion"), d.get("kind"), d["metadata"]["name"])] = d
    return out


def differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            p = f"{path}.{key}" if path else str(key)
            if key not in b:
                yield f"{p}: only in kubectl's ({a[key]!r})"
            elif key not in a:
                yield f"{p}: only in kustomize_lite's ({b[key]!r})"
            else:
                yield from differences(a[key], b[key], p)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b or type(a) is not type(b):
        yield f"{path}: kubectl {a!r}, kustomize_lite {b!r}"


def compare(real_file: Path, lite_file: Path) -> list[str]:
    """What differs between kubectl's rendering and kustomize_lite's, ConfigMap hashes aside."""
    real, lite = (normalize(load_documents(f)) for f in (real_file, lite_file))
    problems = [f"{k} {n} ({a}): only in kubectl's rendering" for a, k, n in sorted(real.keys() - lite.keys())]
    problems += [f"{k} {n} ({a}): only in kustomize_lite's rendering" for a, k, n in sorted(lite.keys() - real.keys())]
    for rid in sorted(real.keys() & lite.keys()):
        problems += [f"{rid[1]} {rid[2]}: {d}" for d in differences(real[rid], lite[rid])]
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", type=Path, help="a directory with a kustomization.yaml")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("REAL", "LITE"),
                    help="compare `kubectl kustomize` output with this script's (ConfigMap hashes aside)")
    a = ap.parse_args(argv)
    if (a.dir is None) == (a.compare is None):
        ap.error("give either DIR or --compare REAL LITE")
    if a.compare:
        try:
            problems = compare(*a.compare)
        except (Unsupported, OSError) as e:
            print(f"kustomize_lite: error: {e}", file=sys.stderr)
            return 1
        for p in problems:
            print(f"kustomize_lite: differs: {p}", file=sys.stderr)
        if problems:
            print(f"kustomize_lite: {len(problems)} difference(s) from kubectl kustomize", file=sys.stderr)
            return 1
        n = len(load_documents(a.compare[0]))
        print(f"kustomize_lite: same as kubectl kustomize -- {n} resources, the same kinds and names (ConfigMap "
              "hashes aside), labels, images, env, volumes and every other field")
        return 0
    try:
        docs = build(a.dir)
    except Unsupported as e:
        print(f"kustomize_lite: error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(dump_documents(docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
