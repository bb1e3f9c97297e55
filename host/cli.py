"""The `wmiput` command: run the host, and put, get, delete and enumerate from the shell.

Exit codes: 0 success, 1 the call failed with a WBEM_E_* HRESULT (printed), 2 bad usage, 3 the call
asked about is still running (call-status).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import fields
from typing import Any

from google.protobuf import json_format

from host import eventloop, status_command
from host.client import (
    INFINITE,
    AsyncCall,
    Credentials,
    WbemClient,
    WbemError,
    WbemFlag,
    instance,
    parse_type,
    prop,
    qualifier,
    to_dict,
    wmi_class,
)
from host.client._objects import TYPES
from host.config import Settings, env_name
from host.errors import hresult_name
from host.model import values
from host.mof import command as mof_command
from wmiput.v1 import object_pb2 as pb
from wmiput.v1 import status_pb2 as st

EPILOG = """\
examples:
  wmiput serve                                   # embedded Redis under ./data, gRPC on 127.0.0.1:50051
  wmiput put-class Vendor_Disk --prop Id:string:key --prop SizeMB:uint32=0
  wmiput put-class Vendor_SSD --superclass Vendor_Disk --prop Wear:uint8
  wmiput put-instance Vendor_SSD Id=disk1 SizeMB=512 Wear=3 --create-only
  wmiput get 'Vendor_Disk.Id="disk1"'
  wmiput enum-instances Vendor_Disk
  wmiput delete 'Vendor_SSD.Id="disk1"'
  wmiput create-namespace test                   # root\\test, by putting a __NAMESPACE instance
  wmiput put-instance Vendor_SSD Id=disk2 --async  # progress of each level, then the path
  wmiput put-instance Vendor_SSD Id=disk3 --return-immediately   # prints a call handle
  wmiput call-status HANDLE --wait-ms 5000       # GetCallStatus (+ GetResultString)
  wmiput security show                           # who may do what here (GetNamespaceSecurity)
  wmiput security grant alice PartialWrite,ProviderWrite
  wmiput security deny bob FullWrite             # a deny wins over any allow
  wmiput security rights                         # what the caller may do here
  wmiput status --watch                          # providers, workers, backlogs, in-doubt transactions
"""


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=None, metavar="HOST:PORT",
                        help="the host's gRPC address (env WMIPUT_TARGET; default 127.0.0.1:50051)")
    parser.add_argument("-n", "--namespace", default="root\\cimv2", help="namespace (default root\\cimv2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call (default 30)")
    parser.add_argument("--token", default=None, metavar="TOKEN",
                        help="bearer token, if the host asks for one (env WMIPUT_TOKEN; never printed)")
    parser.add_argument("--tls-ca", default=None, metavar="FILE",
                        help="PEM CA of the host's certificate: connect with TLS (env WMIPUT_CLIENT_CA)")
    parser.add_argument("--tls-cert", default=None, metavar="FILE",
                        help="PEM client certificate, for a host with mutual TLS (env WMIPUT_CLIENT_CERT)")
    parser.add_argument("--tls-key", default=None, metavar="FILE", help="PEM key of --tls-cert (env WMIPUT_CLIENT_KEY)")


def _put_flags(parser: argparse.ArgumentParser, *, class_modes: bool) -> None:
    g = parser.add_mutually_exclusive_group()
    g.add_argument("--create-only", action="store_true", help="fail with WBEM_E_ALREADY_EXISTS if it exists")
    g.add_argument("--update-only", action="store_true", help="fail with WBEM_E_NOT_FOUND if it does not exist")
    if class_modes:
        m = parser.add_mutually_exclusive_group()
        m.add_argument("--safe", action="store_true", help="update mode safe (WBEM_FLAG_UPDATE_SAFE_MODE)")
        m.add_argument("--force", action="store_true", help="update mode force (WBEM_FLAG_UPDATE_FORCE_MODE)")
    parser.add_argument("--amended", action="store_true", help="WBEM_FLAG_USE_AMENDED_QUALIFIERS")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--async", dest="run_async", action="store_true",
                      help="put asynchronously (Put*Async with WBEM_FLAG_SEND_STATUS): progress on stderr as each "
                      "level accepts, the path on stdout")
    mode.add_argument("--return-immediately", action="store_true",
                      help="semisynchronous (WBEM_FLAG_RETURN_IMMEDIATELY): print the call handle and return; "
                      "then `wmiput call-status HANDLE`")
    parser.add_argument("--flags", type=lambda s: int(s, 0), default=0, help="extra raw flag bits, e.g. 0x10000")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wmiput", description="WMI's write path (PutClass, PutInstance) as a gRPC service on Redis.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the host (gRPC front door + repository)",
                       description="Run the host. Every option also reads the environment variable shown; "
                       "a flag wins over the environment.")
    defaults = Settings.from_env({})
    for f in fields(Settings):
        if isinstance(getattr(defaults, f.name), bool):
            s.add_argument("--" + f.name.replace("_", "-"), action=argparse.BooleanOptionalAction, default=None,
                           help=f"{f.metadata['help']} [{env_name(f.name)}]")
            continue
        s.add_argument("--" + f.name.replace("_", "-"), type=type(getattr(defaults, f.name)), default=None,
                       metavar=f.metadata.get("metavar") or f.name.split("_")[-1].upper(),
                       help=f"{f.metadata['help']} [{env_name(f.name)}; default {getattr(defaults, f.name)!r}]")

    pc = sub.add_parser("put-class", help="create or update a class (PutClass)",
                        description="Create or update a class from options, or from a JSON WbemObject.")
    pc.add_argument("name", nargs="?", help="class name (omit with --json)")
    pc.add_argument("--superclass", default="")
    pc.add_argument("--prop", action="append", default=[], metavar="NAME:TYPE[:key][=DEFAULT]",
                    help=f"a property, e.g. Id:string:key, Size:uint32=5, Tags:string[]; types: {', '.join(TYPES)}")
    pc.add_argument("--qualifier", action="append", default=[], metavar="NAME[=VALUE]",
                    help="a class qualifier, e.g. Abstract, Description=\"text\" (value as JSON)")
    pc.add_argument("--json", metavar="FILE", help="a WbemObject in protobuf JSON ('-' for stdin)")
    _put_flags(pc, class_modes=True)
    _target(pc)

    pi = sub.add_parser("put-instance", help="create or update an instance (PutInstance)",
                        description="Values are typed by the class: the command reads the class first. "
                        "NAME=null puts NULL; arrays as JSON: Tags='[\"a\",\"b\"]'.")
    pi.add_argument("class_name", nargs="?")
    pi.add_argument("values", nargs="*", metavar="NAME=VALUE")
    pi.add_argument("--json", metavar="FILE", help="a WbemObject in protobuf JSON ('-' for stdin)")
    _put_flags(pi, class_modes=False)
    _target(pi)

    g = sub.add_parser("get", help="read a class or an instance by path (GetObject)")
    g.add_argument("path")
    g.add_argument("--proto-json", action="store_true", help="print the full WbemObject as protobuf JSON")
    _target(g)

    d = sub.add_parser("delete", help="delete a class (and its subclasses) or an instance, by path")
    d.add_argument("path")
    _target(d)

    for name, what in (("enum-classes", "subclasses of a class, or every class (CreateClassEnum)"),
                       ("enum-instances", "instances of a class (CreateInstanceEnum)")):
        e = sub.add_parser(name, help=what)
        e.add_argument("class_name", nargs="?" if name == "enum-classes" else None, default="")
        e.add_argument("--shallow", action="store_true", help="direct subclasses / own instances only")
        _target(e)

    w = sub.add_parser("worker", help="run a provider worker (serves providers from their Redis streams)",
                       description="Run a worker process hosting one or more providers. Start several per "
                       "provider for throughput and fault tolerance: they share the provider's stream.")
    w.add_argument("--provider", action="append", default=None, metavar="MODULE:CLASS",
                   help="a Provider subclass, e.g. workers.examples.inventory:InventoryProvider (repeatable) "
                   "[WMIPUT_PROVIDERS, comma-separated]")
    w.add_argument("--option", action="append", default=None, metavar="KEY=VALUE",
                   help="keyword argument for the provider classes, e.g. data_dir=./data (repeatable) "
                   "[WMIPUT_PROVIDER_OPTIONS, comma-separated]")
    w.add_argument("-n", "--namespace", default=None, help="namespace served [WMIPUT_NAMESPACE; root\\cimv2]")
    w.add_argument("--redis-url", default=None, help="the host's Redis [WMIPUT_REDIS_URL]")
    w.add_argument("--prefix", default=None, help="Redis key prefix [WMIPUT_PREFIX; wmiput]")
    w.add_argument("--concurrency", type=int, default=None,
                   help="tasks run at once [WMIPUT_WORKER_CONCURRENCY; 16]")
    w.add_argument("--claim-idle-ms", type=int, default=None,
                   help="take over tasks another worker left unacknowledged this long [WMIPUT_CLAIM_IDLE_MS; 5000]")
    w.add_argument("--metrics-listen", default=None, metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics; each worker process needs its own "
                   "port (0 picks a free one, logged) [WMIPUT_METRICS_LISTEN; off]")
    w.add_argument("--log-format", default=None, help="json, console or auto [WMIPUT_LOG_FORMAT]")
    w.add_argument("--tracing", default=None, metavar="MODE",
                   help="OpenTelemetry spans of the provider calls of traced puts: off, console or otlp "
                   "[WMIPUT_TRACING; off] (docs/observability.md)")
    w.add_argument("--task-key-file", default=None, metavar="FILE",
                   help="the host's task key: accept only tasks signed with it, sign replies "
                   "[WMIPUT_TASK_KEY_FILE] (docs/security.md)")

    acl = sub.add_parser("acl-worker", help="print the Redis ACL SETUSER line for a provider's workers",
                         description="The Redis ACL rules that let a worker touch only its provider's keys, "
                         "the hosts' reply streams and the transactions' decisions (host/acl.py). Replace "
                         "PASSWORD, run the line in redis-cli, and give the worker redis://USER:PASSWORD@...")
    acl.add_argument("--provider", required=True, help="the provider's name")
    acl.add_argument("--user", default=None, help="the ACL user (default: worker-<provider>)")
    acl.add_argument("-n", "--namespace", default="root\\cimv2", help="namespace served (default root\\cimv2)")
    acl.add_argument("--prefix", default="wmiput", help="Redis key prefix (default wmiput)")
    acl.add_argument("--redis-major", type=int, default=7, choices=(6, 7, 8),
                     help="the Redis major version: 7+ can make keys read- or write-only (default 7)")

    cs = sub.add_parser("call-status", help="the outcome of an asynchronous or semisynchronous call "
                        "(GetCallStatus, GetResultString)")
    cs.add_argument("handle")
    cs.add_argument("--wait-ms", type=int, default=0, help="wait up to this long for the call to end (default 0; "
                    "-1 waits until it does)")
    _target(cs)

    at = sub.add_parser("attach", help="stream a call's events (AttachCall), from any host")
    at.add_argument("handle")
    at.add_argument("--after", type=int, default=0, help="only events after this sequence number")
    _target(at)

    cn = sub.add_parser("cancel", help="cancel a call not yet decided (CancelAsyncCall)")
    cn.add_argument("handle")
    _target(cn)

    pv = sub.add_parser("providers", help="registered providers, their live workers and backlog")
    _target(pv)

    sc = sub.add_parser("security", help="namespace security: show, grant, deny, revoke, protect (needs "
                        "ReadSecurity / EditSecurity on the namespace)",
                        description="A namespace's security descriptor (__SystemSecurity). Rights are named "
                        "Enable, MethodExecute, FullWrite, PartialWrite, ProviderWrite, RemoteAccess, "
                        "Subscribe, Publish, ReadSecurity, EditSecurity (or 'all', or a number), joined by "
                        "commas. Trustees are principals or the groups 'Everyone' and 'Authenticated Users'. "
                        "Changes are read-modify-write, retried if another change lands in between.")
    ssub = sc.add_subparsers(dest="action", required=True, metavar="ACTION")
    ss = ssub.add_parser("show", help="the namespace's own entries, those it inherits, and its version")
    ss.add_argument("--json", dest="as_json", action="store_true", help="print the response as proto JSON")
    _target(ss)
    for verb, what in (("grant", "allows"), ("deny", "denies")):
        g = ssub.add_parser(verb, help=f"add an entry that {what} rights to a trustee")
        g.add_argument("trustee")
        g.add_argument("rights", help="e.g. Enable,RemoteAccess,PartialWrite")
        g.add_argument("--this-namespace-only", action="store_true",
                       help="do not apply the entry to child namespaces")
        _target(g)
    rv = ssub.add_parser("revoke", help="remove every entry of a trustee")
    rv.add_argument("trustee")
    _target(rv)
    for verb, what in (("protect", "stop inheriting the parent's entries"),
                       ("inherit", "inherit the parent's entries again")):
        _target(ssub.add_parser(verb, help=what))
    sj = ssub.add_parser("set", help="replace the descriptor with one from a proto JSON file (NamespaceSecurity)")
    sj.add_argument("json_file", metavar="FILE")
    _target(sj)
    _target(ssub.add_parser("rights", help="the rights the caller holds (GetCallerAccessRights)"))

    ie = sub.add_parser("install-examples", help="register the bundled example providers and put their classes "
                        "(idempotent; for hosts whose workers run elsewhere, e.g. deploy/)")
    _target(ie)

    ns = sub.add_parser("create-namespace", help="create a namespace (puts a __NAMESPACE instance in the parent)")
    ns.add_argument("name", help="the new namespace's name, e.g. test")
    ns.add_argument("--parent", default="root")
    _target(ns)
    mof_command.add_parser(sub, _target)
    status_command.add_parser(sub, _target)
    return p


def _flags(a: argparse.Namespace) -> int:
    f = a.flags
    f |= WbemFlag.CREATE_ONLY if a.create_only else 0
    f |= WbemFlag.UPDATE_ONLY if a.update_only else 0
    f |= WbemFlag.UPDATE_SAFE_MODE if getattr(a, "safe", False) else 0
    f |= WbemFlag.UPDATE_FORCE_MODE if getattr(a, "force", False) else 0
    f |= WbemFlag.USE_AMENDED_QUALIFIERS if a.amended else 0
    return int(f)


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _read_json_object(path: str) -> pb.WbemObject:
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    return json_format.Parse(text, pb.WbemObject())


def _class_from_args(a: argparse.Namespace) -> pb.WbemObject:
    props = []
    for spec in a.prop:
        head, _, default = spec.partition("=")
        parts = head.split(":")
        if len(parts) < 2:
            raise SystemExit(f"--prop {spec!r}: expected NAME:TYPE[:key][=DEFAULT]")
        t, is_array = parse_type(parts[1])
        key = "key" in (x.lower() for x in parts[2:])
        dv = _typed(default, t, is_array) if default else None
        props.append(prop(parts[0], parts[1], dv, key=key))
    quals = [qualifier(n, _json_value(v) if sep else True) for n, sep, v in (q.partition("=") for q in a.qualifier)]
    return wmi_class(a.name, *props, superclass=a.superclass, qualifiers=quals)


def _typed(text: str, cim_type: int, is_array: bool) -> Any:
    """A command-line value converted for a property of the given type."""
    if text.lower() == "null":
        return None
    if is_array:
        items = _json_value(text)
        if not isinstance(items, list):
            raise SystemExit(f"{text!r}: an array property takes a JSON list")
        return [_typed(json.dumps(i) if not isinstance(i, str) else i, cim_type, False) for i in items]
    T = pb.CimType
    if cim_type in (T.CIM_TYPE_REAL32, T.CIM_TYPE_REAL64):
        return float(text)
    if cim_type == T.CIM_TYPE_BOOLEAN:
        if text.lower() not in ("true", "false"):
            raise SystemExit(f"{text!r}: a boolean is true or false")
        return text.lower() == "true"
    if cim_type in (T.CIM_TYPE_STRING, T.CIM_TYPE_DATETIME, T.CIM_TYPE_REFERENCE):
        return text
    if cim_type == T.CIM_TYPE_OBJECT:
        return json_format.Parse(text, pb.WbemObject())
    try:
        return int(text, 0)
    except ValueError:
        raise SystemExit(f"{text!r}: expected an integer") from None


async def _instance_from_args(c: WbemClient, a: argparse.Namespace) -> pb.WbemObject:
    cls = await c.get_object(a.class_name)
    types = {p.name.lower(): (p.type, p.is_array) for p in cls.properties}
    vals: dict[str, Any] = {}
    for item in a.values:
        name, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"{item!r}: expected NAME=VALUE")
        t = types.get(name.lower())
        vals[name] = _typed(text, *t) if t else text  # unknown names go as text; the host says which
    return instance(a.class_name, vals)


def _print(obj: pb.WbemObject, proto_json: bool = False) -> None:
    if proto_json:
        print(json_format.MessageToJson(obj))
        return
    print(json.dumps(to_dict(obj), default=lambda o: json_format.MessageToDict(o) if isinstance(o, pb.WbemObject)
                     else str(o), ensure_ascii=False))


async def _connect(a: argparse.Namespace) -> WbemClient:
    import os
    target = a.target or os.environ.get("WMIPUT_TARGET") or "127.0.0.1:50051"
    creds = Credentials(token=a.token or os.environ.get("WMIPUT_TOKEN", ""),
                        ca=a.tls_ca or os.environ.get("WMIPUT_CLIENT_CA", ""),
                        cert=a.tls_cert or os.environ.get("WMIPUT_CLIENT_CERT", ""),
                        key=a.tls_key or os.environ.get("WMIPUT_CLIENT_KEY", ""))
    return await WbemClient.connect(target, namespace=a.namespace, timeout=a.timeout, credentials=creds)


async def _run(a: argparse.Namespace) -> int:
    if a.command == "mofcomp":
        return await mof_command.run(a, lambda: _connect(a))
    if a.command == "status":
        return await status_command.run(a, lambda: _connect(a))
    async with await _connect(a) as c:
        if a.command == "put-class":
            if not a.json and not a.name:
                raise SystemExit("put-class: give a class name or --json FILE")
            obj = _read_json_object(a.json) if a.json else _class_from_args(a)
            if a.run_async:
                return await _follow(await c.put_class_async(obj, _flags(a) | WbemFlag.SEND_STATUS))
            if a.return_immediately:
                print((await c.put_class_semisync(obj, _flags(a))).handle)
                return 0
            print((await c.put_class(obj, _flags(a))).path)
        elif a.command == "put-instance":
            if not a.json and not a.class_name:
                raise SystemExit("put-instance: give a class name or --json FILE")
            obj = _read_json_object(a.json) if a.json else await _instance_from_args(c, a)
            if a.run_async:
                return await _follow(await c.put_instance_async(obj, _flags(a) | WbemFlag.SEND_STATUS))
            if a.return_immediately:
                print((await c.put_instance_semisync(obj, _flags(a))).handle)
                return 0
            print((await c.put_instance(obj, _flags(a))).path)
        elif a.command == "call-status":
            result = c.call_result(a.handle)
            got = await result.get_call_status(INFINITE if a.wait_ms < 0 else a.wait_ms)
            if got is None:
                print("running (WBEM_S_TIMEDOUT)")
                return 3
            status, err = got
            if err is not None:
                raise WbemError.from_proto(err)
            path = await result.get_result_string(0) if status == 0 else None
            print(path if path else f"done: {hresult_name(status)}")
        elif a.command == "attach":
            return await _follow(await c.attach_call(a.handle, a.after))
        elif a.command == "cancel":
            await c.cancel_async_call(a.handle)
            print("cancelled (the call ends with WBEM_E_CALL_CANCELLED)")
        elif a.command == "get":
            _print(await c.get_object(a.path), a.proto_json)
        elif a.command == "delete":
            from host.model.paths import PathError, parse_path
            try:
                is_class = parse_path(a.path).is_class
            except PathError as e:
                raise WbemError("WBEM_E_INVALID_OBJECT_PATH", str(e)) from None
            if is_class:
                n, i = await c.delete_class(a.path)
                print(f"deleted {n} class(es) and {i} instance(s)")
            else:
                print(f"deleted {await c.delete_instance(a.path)}")
        elif a.command in ("enum-classes", "enum-instances"):
            fl = WbemFlag.SHALLOW if a.shallow else 0
            it = c.enum_classes(a.class_name, fl) if a.command == "enum-classes" else c.enum_instances(a.class_name, fl)
            n = 0
            async for o in it:
                n += 1
                print(o.system.relpath if a.command == "enum-classes" else o.system.path)
            print(f"{n} object(s)", file=sys.stderr)
        elif a.command == "providers":
            now_ms = int(time.time() * 1000)
            for line in status_command.providers_table(
                    [status_command.provider_dict(p, now_ms) for p in await c.list_providers()]):
                print(line)
        elif a.command == "security":
            return await _security(c, a)
        elif a.command == "install-examples":
            from workers import examples
            await examples.install(c, a.namespace)
            print(f"installed {', '.join(examples.PROVIDERS)} in {a.namespace}")
        elif a.command == "create-namespace":
            await c.create_namespace(a.name, parent=a.parent)
            print(f"{a.parent}\\{a.name}")
    return 0


async def _security(c: WbemClient, a: argparse.Namespace) -> int:
    from host.access import rights
    from wmiput.v1 import security_pb2 as sec
    if a.action == "rights":
        r = await c.caller_access_rights()
        print(f"{r.principal}: {rights.describe(r.access_mask)} (0x{r.access_mask:x})"
              + (" - administrator" if r.administrator else ""))
        return 0
    if a.action == "show":
        r = await c.get_namespace_security()
        if a.as_json:
            print(json_format.MessageToJson(r))
            return 0
        print(f"{r.namespace} (version {r.version}{', protected' if r.security.protected else ''})")
        for e in r.security.entries:
            print(f"  {_ace_text(e)}")
        for i in r.inherited:
            print(f"  {_ace_text(i.entry)}  (inherited from {i.from_namespace})")
        return 0
    if a.action == "set":
        with open(a.json_file) as f:
            sd = json_format.Parse(f.read(), sec.NamespaceSecurity())
        print(f"version {await c.set_namespace_security(sd)}")
        return 0
    try:
        mask = rights.parse_rights(a.rights) if a.action in ("grant", "deny") else 0
    except ValueError as e:
        raise SystemExit(f"security {a.action}: {e}") from None
    for _ in range(5):  # read-modify-write; another change in between means read again
        r = await c.get_namespace_security()
        sd = r.security
        if a.action in ("grant", "deny"):
            sd.entries.append(sec.AccessEntry(
                trustee=a.trustee, access_mask=mask, inherit=not a.this_namespace_only,
                ace_type=sec.ACE_TYPE_ACCESS_ALLOWED if a.action == "grant" else sec.ACE_TYPE_ACCESS_DENIED))
        elif a.action == "revoke":
            kept = [e for e in sd.entries if e.trustee != a.trustee]
            del sd.entries[:]
            sd.entries.extend(kept)
        else:
            sd.protected = a.action == "protect"
        try:
            print(f"version {await c.set_namespace_security(sd, expected_version=r.version)}")
            return 0
        except WbemError as e:
            if e.name != "WBEM_E_INVALID_OPERATION":
                raise
    raise WbemError("WBEM_E_INVALID_OPERATION", "the namespace's security kept changing; try again")


def _ace_text(e: Any) -> str:
    from host.access import rights
    from wmiput.v1 import security_pb2 as sec
    kind = "deny " if e.ace_type == sec.ACE_TYPE_ACCESS_DENIED else "allow"
    scope = "" if e.inherit else "  [this namespace only]"
    return f"{kind} {e.trustee}: {rights.describe(e.access_mask)}{scope}"


async def _follow(call: AsyncCall) -> int:
    """Print a call's progress to stderr and its path to stdout; raise its error."""
    print(f"call {call.handle} started", file=sys.stderr)
    async for e in call:
        s = e.set_status
        if e.HasField("set_status") and s.flags == st.WBEM_STATUS_PROGRESS:
            print(f"  [{s.current}/{s.total}] {s.str_param}", file=sys.stderr)
        elif e.final and s.hresult == 0:
            print(s.str_param)
        elif e.final:
            raise WbemError.from_proto(s.error_object)
    return 0


def _run_worker(a: argparse.Namespace) -> int:
    import importlib
    import os
    import signal

    from host import logs
    from host.redis_connect import open_redis
    from host.signing import Signer
    from workers.runtime import Worker, WorkerSettings

    logs.configure(a.log_format or os.environ.get("WMIPUT_LOG_FORMAT", "auto"), "info")
    url = a.redis_url or os.environ.get("WMIPUT_REDIS_URL")
    if not url:
        raise SystemExit("worker: give --redis-url (or WMIPUT_REDIS_URL): the Redis the host uses")
    def listed(flag: list[str] | None, env: str) -> list[str]:
        return flag if flag is not None else [v.strip() for v in os.environ.get(env, "").split(",") if v.strip()]

    def number(flag: int | None, env: str, default: int) -> int:
        try:
            return flag if flag is not None else int(os.environ.get(env) or default)
        except ValueError:
            raise SystemExit(f"worker: {env}={os.environ.get(env)!r} is not a number") from None

    specs = listed(a.provider, "WMIPUT_PROVIDERS")
    if not specs:
        raise SystemExit("worker: give --provider MODULE:CLASS (or WMIPUT_PROVIDERS)")
    try:
        options = dict(o.split("=", 1) for o in listed(a.option, "WMIPUT_PROVIDER_OPTIONS"))
    except ValueError:
        raise SystemExit("worker: provider options are KEY=VALUE") from None
    providers = []
    for spec in specs:
        module, _, cls = spec.partition(":")
        providers.append(getattr(importlib.import_module(module), cls)(**options))
    settings = WorkerSettings(namespace=a.namespace or os.environ.get("WMIPUT_NAMESPACE", "root\\cimv2"),
                              prefix=a.prefix or os.environ.get("WMIPUT_PREFIX", "wmiput"),
                              concurrency=number(a.concurrency, "WMIPUT_WORKER_CONCURRENCY", 16),
                              claim_idle_ms=number(a.claim_idle_ms, "WMIPUT_CLAIM_IDLE_MS", 5000))
    try:
        signer = Signer.from_file(a.task_key_file or os.environ.get("WMIPUT_TASK_KEY_FILE", ""))
    except (OSError, ValueError) as e:
        raise SystemExit(f"worker: {e}") from None

    metrics_listen = a.metrics_listen if a.metrics_listen is not None else os.environ.get("WMIPUT_METRICS_LISTEN", "")
    if metrics_listen:
        from host import metrics
        try:
            metrics.serve(metrics_listen)
        except RuntimeError as e:
            raise SystemExit(f"worker: {e}") from None

    from host import tracing
    try:
        tracing.configure(a.tracing or os.environ.get("WMIPUT_TRACING", "off"), "wmiput-worker")
    except ValueError as e:
        raise SystemExit(f"worker: {e}") from None

    async def run() -> None:
        redis = await open_redis(url)
        worker = Worker(redis, providers, settings, signer=signer)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        try:
            await worker.run()
        finally:
            await redis.aclose()

    eventloop.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["mofcomp"]:
        argv = mof_command.translate_mofcomp_argv(argv)
    a = build_parser().parse_args(argv)
    if a.command == "worker":
        return _run_worker(a)
    if a.command == "acl-worker":
        from host.acl import setuser_line, worker_rules
        rules = worker_rules(a.prefix, a.namespace, a.provider, redis_major=a.redis_major)
        print(setuser_line(a.user or f"worker-{a.provider}", rules))
        return 0
    if a.command == "serve":
        from host import logs
        from host.server.app import serve
        settings = Settings.from_env(**{f.name: getattr(a, f.name) for f in fields(Settings)})
        logs.configure(settings.log_format, settings.log_level)
        eventloop.run(serve(settings))
        return 0
    try:
        return eventloop.run(_run(a))
    except WbemError as e:
        print(f"error: {e.name} (0x{int(e.hresult):08X}): {e.description}", file=sys.stderr)
        return 1
    except (OSError, values.CimValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
