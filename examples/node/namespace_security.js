#!/usr/bin/env node
// A Node.js client of the wmiput host's namespace security (__SystemSecurity,
// proto/wmiput/v1/security.proto): an administrator reads a namespace's descriptor, replaces it
// with optimistic concurrency (expected_version) so that only one user may use the namespace,
// and a stale second change is refused; the user then asks what it may do and is refused a
// write (WBEM_E_ACCESS_DENIED, gRPC PERMISSION_DENIED); finally the administrator puts the
// original descriptor back.
//
//   node namespace_security.js [ADDRESS]
//
// ADDRESS defaults to 127.0.0.1:50051. The host must authenticate its callers (docs/security.md):
//   WMIPUT_TOKEN       the bearer token of one of the host's administrators (its --admins)
//   WMIPUT_USER_TOKEN  the bearer token of another principal, who is no administrator
//   WMIPUT_USER        that principal's name, as the host authenticates it (default "alice")
//   WMIPUT_NAMESPACE   the namespace whose security the script changes (default root\cimv2)
//   WMIPUT_DEADLINE_MS bounds each call and the wait for the connection (default 15000)
// WMIPUT_CLIENT_CA, WMIPUT_CLIENT_CERT and WMIPUT_CLIENT_KEY give TLS (mutual with a client
// certificate), as for put_and_read_error.js. Both tokens go as "authorization: Bearer <token>".
// Prints one JSON line per step and exits 0 when every call behaved as WMI says it should,
// 1 otherwise. The original descriptor is put back even when a step in between fails.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const ADDRESS = process.argv[2] || '127.0.0.1:50051';
const ADMIN_TOKEN = process.env.WMIPUT_TOKEN || '';
const USER_TOKEN = process.env.WMIPUT_USER_TOKEN || '';
const USER = process.env.WMIPUT_USER || 'alice';
const NAMESPACE = process.env.WMIPUT_NAMESPACE || 'root\\cimv2';
const CLASS_NAME = 'Node_SecurityExample';
// Per-call deadline (and how long to wait for the connection), in milliseconds.
const DEADLINE_MS = Number(process.env.WMIPUT_DEADLINE_MS) || 15000;

// WMI's namespace rights (proto wmiput.v1.NamespaceRight): bits of an access mask.
const RIGHTS = {
  WBEM_ENABLE: 0x1,
  WBEM_METHOD_EXECUTE: 0x2,
  WBEM_FULL_WRITE_REP: 0x4,
  WBEM_PARTIAL_WRITE_REP: 0x8,
  WBEM_WRITE_PROVIDER: 0x10,
  WBEM_REMOTE_ACCESS: 0x20,
  WBEM_RIGHT_SUBSCRIBE: 0x40,
  WBEM_RIGHT_PUBLISH: 0x80,
  READ_CONTROL: 0x20000,
  WRITE_DAC: 0x40000,
};
// What the user gets: use the namespace at all (Enable Account + Remote Enable), nothing more.
const USER_MASK = RIGHTS.WBEM_ENABLE | RIGHTS.WBEM_REMOTE_ACCESS; // 0x21
const WBEM_FLAG_CREATE_OR_UPDATE = 0x0;
const WBEM_E_ACCESS_DENIED = 0x80041003;
const KEY_FLAVOR = 0x2 | 0x10; // ToSubClass | DisableOverride

const LOADER_OPTIONS = {
  keepCase: true, // field names as in the .proto files: access_mask, expected_version, ...
  longs: String, // uint64 versions as decimal strings
  enums: String, // ace_type as 'ACE_TYPE_ACCESS_ALLOWED'
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};
const packageDefinition = protoLoader.loadSync(['wmiput/v1/security.proto', 'wmiput/v1/services.proto'],
  LOADER_OPTIONS);
const wmiput = grpc.loadPackageDefinition(packageDefinition).wmiput.v1;

let failures = 0;

function report(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
}

function fail(step, fields) {
  failures += 1;
  report(step, { ok: false, ...fields });
}

// Report a step as ok or failed, depending on `ok`.
function check(step, ok, fields) {
  if (ok) report(step, { ok: true, ...fields });
  else fail(step, fields);
}

function hex(code) {
  return '0x' + (code >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

function rightNames(mask) {
  return Object.entries(RIGHTS).filter(([, bit]) => (mask & bit) !== 0).map(([name]) => name);
}

function channelCredentials() {
  const ca = process.env.WMIPUT_CLIENT_CA;
  if (!ca) return grpc.credentials.createInsecure();
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  return grpc.credentials.createSsl(fs.readFileSync(ca), read('WMIPUT_CLIENT_KEY'), read('WMIPUT_CLIENT_CERT'));
}

// Who calls is a matter of the metadata of each call: one channel serves both principals.
function call(client, method, request, token) {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    client[method](request, md, { deadline: Date.now() + DEADLINE_MS },
      (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

// The HRESULT of a failed call, from the trailing metadata "wbem-hresult" / "wbem-hresult-name".
function describeError(err) {
  const md = err.metadata;
  const first = (key) => {
    if (!md) return undefined;
    const [value] = md.get(key);
    return value === undefined ? undefined : String(value);
  };
  return { grpc_code: err.code, grpc_details: err.details, hresult: first('wbem-hresult'),
    name: first('wbem-hresult-name') };
}

function describeEntries(entries) {
  return entries.map((e) => ({ trustee: e.trustee, ace_type: e.ace_type, access_mask: hex(e.access_mask),
    inherit: e.inherit }));
}

async function main() {
  if (!ADMIN_TOKEN || !USER_TOKEN) {
    fail('config', { error: 'set WMIPUT_TOKEN (an administrator\'s token) and WMIPUT_USER_TOKEN (another principal\'s)' });
    return;
  }
  const creds = channelCredentials();
  const security = new wmiput.NamespaceSecurityService(ADDRESS, creds);
  const wbem = new wmiput.WbemService(ADDRESS, creds);
  try {
    await new Promise((resolve, reject) =>
      security.waitForReady(Date.now() + DEADLINE_MS, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    fail('connect', { address: ADDRESS, error: err.message });
    security.close();
    wbem.close();
    return;
  }
  report('connect', { ok: true, address: ADDRESS, namespace: NAMESPACE });
  try {
    await steps(security, wbem);
  } finally {
    security.close();
    wbem.close();
  }
}

async function steps(security, wbem) {
  // (a) The administrator's rights: every one, as for the local Administrators group on Windows.
  try {
    const r = await call(security, 'GetCallerAccessRights', { namespace: NAMESPACE }, ADMIN_TOKEN);
    check('admin_rights', r.administrator === true, { principal: r.principal, administrator: r.administrator,
      access_mask: hex(r.access_mask), rights: rightNames(r.access_mask) });
  } catch (err) {
    fail('admin_rights', describeError(err));
    return;
  }

  // (b) The namespace's own descriptor and its version (0: never set, the namespace inherits).
  let original;
  let originalVersion;
  try {
    const r = await call(security, 'GetNamespaceSecurity', { namespace: NAMESPACE }, ADMIN_TOKEN);
    original = r.security || { entries: [], protected: false };
    originalVersion = r.version;
    report('get_security', { ok: true, namespace: r.namespace, version: r.version, entries: original.entries.length,
      protected: original.protected, inherited: r.inherited.length, own: describeEntries(original.entries) });
  } catch (err) {
    fail('get_security', describeError(err));
    return;
  }

  // (c) Replace it, only if nobody changed it since (b): protected (nothing inherited from the
  // parent), one entry allowing the user Enable Account and Remote Enable, here and below.
  const restricted = {
    protected: true,
    entries: [{ trustee: USER, ace_type: 'ACE_TYPE_ACCESS_ALLOWED', access_mask: USER_MASK, inherit: true }],
  };
  let currentVersion;
  try {
    const r = await call(security, 'SetNamespaceSecurity',
      { namespace: NAMESPACE, security: restricted, expected_version: originalVersion }, ADMIN_TOKEN);
    currentVersion = r.version;
    check('set_security', BigInt(r.version) > BigInt(originalVersion),
      { expected_version: originalVersion, version: r.version, entries: describeEntries(restricted.entries) });
  } catch (err) {
    fail('set_security', { expected_version: originalVersion, ...describeError(err) });
    return;
  }

  try {
    await userSteps(security, wbem, originalVersion, (v) => { currentVersion = v; });
  } finally {
    // (g) Put the original descriptor back, whatever happened in between.
    try {
      const r = await call(security, 'SetNamespaceSecurity',
        { namespace: NAMESPACE, security: original, expected_version: currentVersion }, ADMIN_TOKEN);
      report('restore', { ok: true, expected_version: currentVersion, version: r.version,
        entries: original.entries.length, protected: original.protected });
    } catch (err) {
      fail('restore', { expected_version: currentVersion, ...describeError(err) });
    }
  }
}

async function userSteps(security, wbem, staleVersion, setCurrentVersion) {
  // (d) The same change again with the version read in (b), now stale: nothing changes, and the
  // call fails with WBEM_E_INVALID_OPERATION (read again, then retry).
  try {
    const r = await call(security, 'SetNamespaceSecurity', {
      namespace: NAMESPACE, expected_version: staleVersion,
      security: { protected: true, entries: [{ trustee: USER, ace_type: 'ACE_TYPE_ACCESS_ALLOWED',
        access_mask: USER_MASK | RIGHTS.WBEM_FULL_WRITE_REP, inherit: true }] },
    }, ADMIN_TOKEN);
    setCurrentVersion(r.version);
    fail('set_security_stale', { error: 'a change with a stale expected_version succeeded', version: r.version });
  } catch (err) {
    const e = describeError(err);
    check('set_security_stale', e.name === 'WBEM_E_INVALID_OPERATION', { expected_version: staleVersion, ...e });
  }

  // (e) What the user may do now: exactly Enable Account and Remote Enable.
  try {
    const r = await call(security, 'GetCallerAccessRights', { namespace: NAMESPACE }, USER_TOKEN);
    check('user_rights', r.access_mask === USER_MASK && r.administrator === false && r.principal === USER,
      { principal: r.principal, administrator: r.administrator, access_mask: hex(r.access_mask),
        rights: rightNames(r.access_mask) });
  } catch (err) {
    fail('user_rights', describeError(err));
  }

  // (f) Writing a class needs WBEM_FULL_WRITE_REP, which the user lacks: WBEM_E_ACCESS_DENIED
  // (0x80041003), gRPC PERMISSION_DENIED.
  const wmiClass = {
    genus: 'GENUS_CLASS',
    class_name: CLASS_NAME,
    properties: [
      { name: 'Id', type: 'CIM_TYPE_STRING', qualifiers: [{ name: 'Key', value: { boolean: true }, flavor: KEY_FLAVOR }] },
    ],
  };
  try {
    const r = await call(wbem, 'PutClass',
      { namespace: NAMESPACE, object: wmiClass, flags: WBEM_FLAG_CREATE_OR_UPDATE }, USER_TOKEN);
    fail('user_put_class', { error: 'the user could write a class', path: r.path });
  } catch (err) {
    const e = describeError(err);
    const ok = err.code === grpc.status.PERMISSION_DENIED && e.hresult !== undefined
      && parseInt(e.hresult, 16) === WBEM_E_ACCESS_DENIED && e.name === 'WBEM_E_ACCESS_DENIED';
    check('user_put_class', ok, { class_name: CLASS_NAME, ...e });
  }
}

main()
  .catch((err) => fail('unexpected', { error: String(err && err.stack ? err.stack : err) }))
  .finally(() => {
    report('done', { ok: failures === 0, failures });
    process.exitCode = failures === 0 ? 0 : 1;
  });
