#!/usr/bin/env node
// A Node.js client of the wmiput host: create a class, put an instance, put it again with
// WBEM_FLAG_CREATE_ONLY and read the HRESULT of the failure, both from the "wbem-hresult"
// trailing metadata and from the google.rpc.Status details (an Any packing
// wmiput.v1.ExtendedStatus, WMI's __ExtendedStatus).
//
//   node put_and_read_error.js [ADDRESS] [ID]
//
// ADDRESS defaults to 127.0.0.1:50051; ID (the instance's key) defaults to a fresh value, so the
// script can run again against the same host. WMIPUT_DEADLINE_MS (default 15000) bounds each call
// and the wait for the connection. For a host that asks for credentials (docs/security.md):
// WMIPUT_CLIENT_CA (PEM of the host certificate's CA: TLS), WMIPUT_CLIENT_CERT + WMIPUT_CLIENT_KEY
// (mutual TLS), WMIPUT_TOKEN (sent as "authorization: Bearer <token>"). Prints one JSON line per step and exits 0 when
// everything behaved as WMI says it should, 1 otherwise.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const ADDRESS = process.argv[2] || '127.0.0.1:50051';
const INSTANCE_ID = process.argv[3] || `node-${process.pid}-${Date.now()}`;
const CLASS_NAME = 'Node_Example';
const NAMESPACE = 'root\\cimv2';
// Per-call deadline (and how long to wait for the connection), in milliseconds.
const DEADLINE_MS = Number(process.env.WMIPUT_DEADLINE_MS) || 15000;

// WMI's numbers (proto wmiput.v1.WbemFlag / HResult).
const WBEM_FLAG_CREATE_OR_UPDATE = 0x0;
const WBEM_FLAG_CREATE_ONLY = 0x2;
const WBEM_E_ALREADY_EXISTS = 0x80041019;
// Key qualifier flavor: ToSubClass | DisableOverride.
const KEY_FLAVOR = 0x2 | 0x10;

const LOADER_OPTIONS = {
  keepCase: true, // field names as in the .proto files: class_name, is_array, ...
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

// @grpc/proto-loader resolves 'wmiput/v1/services.proto' (= ../../proto/wmiput/v1/services.proto)
// and its imports through includeDirs.
const packageDefinition = protoLoader.loadSync(['wmiput/v1/services.proto', 'wmiput/v1/status.proto'],
  LOADER_OPTIONS);
const wmiput = grpc.loadPackageDefinition(packageDefinition).wmiput.v1;

// protobufjs types for the error details. google/rpc/status.proto does not ship with
// @grpc/proto-loader or protobufjs, so google.rpc.Status (and the Any it packs) is declared here;
// the wire format is all that matters.
const statusRoot = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
          },
        },
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'google.protobuf.Any', id: 3 },
              },
            },
          },
        },
      },
    },
  },
});
const RpcStatus = statusRoot.lookupType('google.rpc.Status');
const wmiRoot = new protobuf.Root();
wmiRoot.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
wmiRoot.loadSync('wmiput/v1/status.proto', { keepCase: true });
const ExtendedStatus = wmiRoot.lookupType('wmiput.v1.ExtendedStatus');
const HRESULT_NAMES = wmiRoot.lookupEnum('wmiput.v1.HResult').valuesById;

let failures = 0;

function report(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
}

function fail(step, fields) {
  failures += 1;
  report(step, { ok: false, ...fields });
}

function hex(code) {
  return '0x' + (code >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

function hresultName(code) {
  return HRESULT_NAMES[code | 0] || hex(code);
}

// Credentials: TLS (mutual with a client certificate) for the channel, a bearer token per call.
function channelCredentials() {
  const ca = process.env.WMIPUT_CLIENT_CA;
  if (!ca) return grpc.credentials.createInsecure();
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  return grpc.credentials.createSsl(fs.readFileSync(ca), read('WMIPUT_CLIENT_KEY'), read('WMIPUT_CLIENT_CERT'));
}

function callMetadata() {
  const md = new grpc.Metadata();
  if (process.env.WMIPUT_TOKEN) md.set('authorization', `Bearer ${process.env.WMIPUT_TOKEN}`);
  return md;
}

function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, callMetadata(), { deadline: Date.now() + DEADLINE_MS },
      (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

// The HRESULT of a failed call, as plain trailing metadata: "wbem-hresult" = "0x80041019".
function hresultFromMetadata(err) {
  const md = err.metadata;
  if (!md) return null;
  const [text] = md.get('wbem-hresult');
  if (text === undefined) return null;
  const [name] = md.get('wbem-hresult-name');
  return { hresult: String(text), name: name === undefined ? hresultName(parseInt(text, 16)) : String(name) };
}

// The ExtendedStatus of a failed call, from "grpc-status-details-bin" (a google.rpc.Status).
function extendedStatusFromDetails(err) {
  const md = err.metadata;
  if (!md) return null;
  const [raw] = md.get('grpc-status-details-bin');
  if (raw === undefined) return null;
  const status = RpcStatus.decode(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'base64'));
  for (const any of status.details) {
    if (any.type_url.endsWith('/wmiput.v1.ExtendedStatus')) {
      const ext = ExtendedStatus.toObject(ExtendedStatus.decode(any.value), { defaults: true });
      return { grpcCode: status.code, ...ext };
    }
  }
  return null;
}

function describeError(err) {
  return { grpc_code: err.code, grpc_details: err.details, ...(hresultFromMetadata(err) || {}) };
}

async function main() {
  const client = new wmiput.WbemService(ADDRESS, channelCredentials());
  try {
    await new Promise((resolve, reject) =>
      client.waitForReady(Date.now() + DEADLINE_MS, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    fail('connect', { address: ADDRESS, error: err.message });
    return;
  }
  report('connect', { ok: true, address: ADDRESS });

  // 1. The class: string key Id and a plain string property.
  const wmiClass = {
    genus: 'GENUS_CLASS',
    class_name: CLASS_NAME,
    properties: [
      {
        name: 'Id', type: 'CIM_TYPE_STRING',
        qualifiers: [{ name: 'Key', value: { boolean: true }, flavor: KEY_FLAVOR }],
      },
      { name: 'Note', type: 'CIM_TYPE_STRING' },
    ],
  };
  try {
    const r = await call(client, 'PutClass', { namespace: NAMESPACE, object: wmiClass, flags: WBEM_FLAG_CREATE_OR_UPDATE });
    report('put_class', { ok: true, path: r.path, relpath: r.relpath });
  } catch (err) {
    fail('put_class', describeError(err));
    return;
  }

  // 2. An instance, CREATE_ONLY: it does not exist yet.
  const inst = {
    genus: 'GENUS_INSTANCE',
    class_name: CLASS_NAME,
    properties: [
      { name: 'Id', value: { string: INSTANCE_ID } },
      { name: 'Note', value: { string: 'written by Node.js' } },
    ],
  };
  let relpath = '';
  try {
    const r = await call(client, 'PutInstance', { namespace: NAMESPACE, object: inst, flags: WBEM_FLAG_CREATE_ONLY });
    relpath = r.relpath;
    report('put_instance', { ok: true, id: INSTANCE_ID, path: r.path, relpath: r.relpath });
  } catch (err) {
    fail('put_instance', { id: INSTANCE_ID, ...describeError(err) });
    return;
  }

  // 3. The same instance again, CREATE_ONLY: WMI answers WBEM_E_ALREADY_EXISTS (0x80041019).
  try {
    const r = await call(client, 'PutInstance', { namespace: NAMESPACE, object: inst, flags: WBEM_FLAG_CREATE_ONLY });
    fail('put_instance_again', { error: 'the second CREATE_ONLY put succeeded', path: r.path });
  } catch (err) {
    const fromMetadata = hresultFromMetadata(err);
    if (fromMetadata === null) {
      fail('put_instance_again', { error: 'no wbem-hresult trailing metadata', ...describeError(err) });
    } else {
      const ok = parseInt(fromMetadata.hresult, 16) === WBEM_E_ALREADY_EXISTS && fromMetadata.name === 'WBEM_E_ALREADY_EXISTS';
      (ok ? report : fail)('put_instance_again', { ...(ok ? { ok } : {}), ...fromMetadata, grpc_code: err.code });
    }
    // The same error, from the google.rpc.Status details.
    let ext = null;
    try {
      ext = extendedStatusFromDetails(err);
      if (ext === null) fail('put_instance_again_details', { error: 'no ExtendedStatus in grpc-status-details-bin' });
    } catch (decodeErr) {
      fail('put_instance_again_details', { error: `cannot decode grpc-status-details-bin: ${decodeErr.message}` });
    }
    if (ext !== null) {
      const ok = ext.status_code >>> 0 === WBEM_E_ALREADY_EXISTS && ext.hresult_name === 'WBEM_E_ALREADY_EXISTS';
      (ok ? report : fail)('put_instance_again_details', {
        ...(ok ? { ok } : {}),
        hresult: hex(ext.status_code),
        name: ext.hresult_name,
        operation: ext.operation,
        parameter_info: ext.parameter_info,
        provider_name: ext.provider_name,
        description: ext.description,
      });
    }
  }

  // 4. Read it back: the first put's values are there.
  try {
    const r = await call(client, 'GetObject', { namespace: NAMESPACE, path: relpath });
    const props = Object.fromEntries(r.object.properties.map((p) => [p.name, p.value ? p.value[p.value.kind] : null]));
    const ok = props.Id === INSTANCE_ID && props.Note === 'written by Node.js';
    (ok ? report : fail)('get_instance', { ...(ok ? { ok } : {}), path: r.object.system.path, properties: props });
  } catch (err) {
    fail('get_instance', describeError(err));
  } finally {
    client.close();
  }
}

main()
  .catch((err) => fail('unexpected', { error: String(err && err.stack ? err.stack : err) }))
  .finally(() => {
    report('done', { ok: failures === 0, failures });
    process.exitCode = failures === 0 ? 0 : 1;
  });
