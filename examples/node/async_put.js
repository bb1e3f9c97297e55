#!/usr/bin/env node
// A Node.js client of the wmiput host's asynchronous and semisynchronous puts: sink events
// streamed back (PutInstanceAsync, PutAsync), a failure reported through the sink, re-attaching
// to a call after its stream was dropped (AttachCall), and a call handle polled through
// WbemCallResultService (IWbemCallResult).
//
//   node async_put.js [ADDRESS] [ID]
//
// ADDRESS defaults to 127.0.0.1:50051; ID (the first instance's key; the others are ID-script,
// ID-attach and ID-semi) defaults to a fresh value, so the script can run again against the same
// host. WMIPUT_DEADLINE_MS (default 15000) bounds each call, each event stream and the wait for
// the connection. Prints one JSON line per step and per sink event, and exits 0 when every call
// behaved as WMI says it should, 1 otherwise.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const ADDRESS = process.argv[2] || '127.0.0.1:50051';
const INSTANCE_ID = process.argv[3] || `node-${process.pid}-${Date.now()}`;
const CLASS_NAME = 'Node_AsyncExample';
const NAMESPACE = 'root\\cimv2';
// Per-call deadline (and how long to wait for the connection), in milliseconds.
const DEADLINE_MS = Number(process.env.WMIPUT_DEADLINE_MS) || 15000;

// WMI's numbers (proto wmiput.v1.WbemFlag / WbemStatusType / HResult).
const WBEM_FLAG_CREATE_OR_UPDATE = 0x0;
const WBEM_FLAG_CREATE_ONLY = 0x2;
const WBEM_FLAG_RETURN_IMMEDIATELY = 0x10;
const WBEM_FLAG_SEND_STATUS = 0x80;
const WBEM_STATUS_COMPLETE = 0;
const WBEM_STATUS_PROGRESS = 2;
const WBEM_S_NO_ERROR = 0x0;
const WBEM_S_TIMEDOUT = 0x40004;
const WBEM_E_ALREADY_EXISTS = 0x80041019;
// IWbemCallResult's wait, in milliseconds.
const CALL_RESULT_TIMEOUT_MS = 5000;
// Key qualifier flavor: ToSubClass | DisableOverride.
const KEY_FLAVOR = 0x2 | 0x10;
// objWbemAsyncContext: handed back unchanged with every scripting event.
const ASYNC_CONTEXT = { CallNo: 42 };

const LOADER_OPTIONS = {
  keepCase: true, // field names as in the .proto files: call_handle, str_param, ...
  longs: String, // uint64 sequence numbers arrive as strings
  enums: String,
  defaults: true,
  oneofs: true, // SinkEvent.event names the member set: "accepted", "set_status", ...
  includeDirs: [PROTO_DIR],
};

// services.proto imports calls.proto, so both WbemService and WbemCallResultService load here.
const packageDefinition = protoLoader.loadSync(['wmiput/v1/services.proto', 'wmiput/v1/calls.proto'],
  LOADER_OPTIONS);
const wmiput = grpc.loadPackageDefinition(packageDefinition).wmiput.v1;

// The names of HRESULTs and of SetStatus flags, from the contract itself.
const wmiRoot = new protobuf.Root();
wmiRoot.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
wmiRoot.loadSync('wmiput/v1/status.proto', { keepCase: true });
const HRESULT_NAMES = wmiRoot.lookupEnum('wmiput.v1.HResult').valuesById;
const STATUS_TYPES = wmiRoot.lookupEnum('wmiput.v1.WbemStatusType').values;

let failures = 0;

function report(step, fields) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
}

function fail(step, fields) {
  failures += 1;
  report(step, { ok: false, ...fields });
}

// report when ok, fail otherwise (with why).
function check(step, problems, fields) {
  if (problems.length === 0) report(step, { ok: true, ...fields });
  else fail(step, { error: problems.join('; '), ...fields });
}

function hex(code) {
  return '0x' + (code >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

function hresultName(code) {
  return HRESULT_NAMES[code | 0] || hex(code);
}

function deadline() {
  return { deadline: Date.now() + DEADLINE_MS };
}

function call(client, method, request, options = deadline()) {
  return new Promise((resolve, reject) => {
    client[method](request, options, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

function describeError(err) {
  const md = err.metadata;
  const [hresult] = md ? md.get('wbem-hresult') : [];
  const [name] = md ? md.get('wbem-hresult-name') : [];
  return {
    grpc_code: err.code,
    grpc_details: err.details,
    ...(hresult === undefined ? {} : { hresult: String(hresult), name: String(name) }),
  };
}

// A WMI object path's key value, quoted as WMI quotes it.
function relpathOf(id) {
  return `${CLASS_NAME}.Id="${id.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function instance(id, size) {
  return {
    genus: 'GENUS_INSTANCE',
    class_name: CLASS_NAME,
    properties: [
      { name: 'Id', value: { string: id } },
      { name: 'Size', value: { uint: size } },
    ],
  };
}

function valueOf(v) {
  if (!v || !v.kind) return null;
  const x = v[v.kind];
  if (v.kind === 'sint' || v.kind === 'uint') return Number(x); // 64-bit, sent as strings
  if (v.kind === 'array') return x.items.map(valueOf);
  return x;
}

// A Context (named values) as a plain object.
function contextOf(ctx) {
  return ctx ? Object.fromEntries(ctx.values.map((nv) => [nv.name, valueOf(nv.value)])) : null;
}

function errorObject(ext) {
  if (!ext) return null;
  return {
    hresult: hex(ext.status_code),
    name: ext.hresult_name,
    operation: ext.operation,
    parameter_info: ext.parameter_info,
    provider_name: ext.provider_name,
    description: ext.description,
  };
}

// One SinkEvent as the fields of its JSON line.
function describeEvent(ev) {
  const out = { sequence: Number(ev.sequence), final: ev.final, kind: ev.event };
  const body = ev[ev.event];
  switch (ev.event) {
    case 'accepted': // the immediate WBEM_S_NO_ERROR of an asynchronous method
      Object.assign(out, { operation: body.operation, call_handle: body.call_handle });
      break;
    case 'indicate': // never sent for a put; accepted all the same
      out.objects = body.objects.length;
      break;
    case 'set_status': { // IWbemObjectSink::SetStatus
      const flags = STATUS_TYPES[body.flags];
      Object.assign(out, { flags, flags_name: body.flags, hresult: hex(body.hresult) });
      if (flags === WBEM_STATUS_PROGRESS) {
        Object.assign(out, { current: body.current, total: body.total });
      } else {
        out.hresult_name = hresultName(body.hresult);
      }
      out.str_param = body.str_param;
      if (body.error_object) out.error_object = errorObject(body.error_object);
      break;
    }
    case 'object_put': // SWbemSink.OnObjectPut
      out.path = body.path;
      break;
    case 'progress': // SWbemSink.OnProgress
      Object.assign(out, { upper_bound: body.upper_bound, current: body.current, message: body.message });
      break;
    case 'completed': // SWbemSink.OnCompleted
      Object.assign(out, { hresult: hex(body.hresult), hresult_name: hresultName(body.hresult) });
      if (body.error_object) out.error_object = errorObject(body.error_object);
      break;
    default:
      break;
  }
  if (ev.async_context) out.async_context = contextOf(ev.async_context);
  return out;
}

// Every event of a stream, each printed as it arrives; rejects with the RPC's error (the
// events received so far in err.events) if the stream fails.
function collect(label, stream) {
  return new Promise((resolve, reject) => {
    const got = [];
    stream.on('data', (msg) => {
      const ev = describeEvent(msg.event);
      got.push(ev);
      report('event', { call: label, ...ev });
    });
    stream.on('error', (err) => {
      err.events = got;
      reject(err);
    });
    stream.on('end', () => resolve(got));
  });
}

// What every event stream must look like: these kinds, sequence numbers 0, 1, 2, ..., and
// exactly one final event, the last.
function shapeProblems(evs, kinds) {
  const problems = [];
  const gotKinds = evs.map((e) => e.kind);
  if (JSON.stringify(gotKinds) !== JSON.stringify(kinds)) {
    problems.push(`events ${JSON.stringify(gotKinds)}, expected ${JSON.stringify(kinds)}`);
  }
  if (!evs.every((e, i) => e.sequence === i)) problems.push('sequence numbers are not 0, 1, 2, ...');
  if (!evs.every((e, i) => e.final === (i === evs.length - 1))) problems.push('not exactly one final event, last');
  return problems;
}

function summary(evs) {
  return { kinds: evs.map((e) => e.kind), sequences: evs.map((e) => e.sequence) };
}

async function main() {
  const client = new wmiput.WbemService(ADDRESS, grpc.credentials.createInsecure());
  // IWbemCallResult, on the same channel.
  const callResult = new wmiput.WbemCallResultService(ADDRESS, grpc.credentials.createInsecure(),
    { channelOverride: client.getChannel() });
  try {
    await steps(client, callResult);
  } finally {
    client.close();
  }
}

async function steps(client, callResult) {
  try {
    await new Promise((resolve, reject) =>
      client.waitForReady(Date.now() + DEADLINE_MS, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    fail('connect', { address: ADDRESS, error: err.message });
    return;
  }
  report('connect', { ok: true, address: ADDRESS });

  // 1. A static class (no provider: the repository stores its instances): key Id, uint32 Size.
  const wmiClass = {
    genus: 'GENUS_CLASS',
    class_name: CLASS_NAME,
    properties: [
      {
        name: 'Id', type: 'CIM_TYPE_STRING',
        qualifiers: [{ name: 'Key', value: { boolean: true }, flavor: KEY_FLAVOR }],
      },
      { name: 'Size', type: 'CIM_TYPE_UINT32' },
    ],
  };
  try {
    const r = await call(client, 'PutClass',
      { namespace: NAMESPACE, object: wmiClass, flags: WBEM_FLAG_CREATE_OR_UPDATE });
    report('put_class', { ok: true, path: r.path, relpath: r.relpath });
  } catch (err) {
    fail('put_class', describeError(err));
    return;
  }

  // 2. PutInstanceAsync with WBEM_FLAG_SEND_STATUS: accepted, SetStatus(PROGRESS) for the one
  // level (the repository), then SetStatus(COMPLETE, WBEM_S_NO_ERROR, path).
  {
    const step = 'put_instance_async';
    const relpath = relpathOf(INSTANCE_ID);
    try {
      const evs = await collect(step, client.PutInstanceAsync(
        { namespace: NAMESPACE, object: instance(INSTANCE_ID, 1), flags: WBEM_FLAG_SEND_STATUS }, deadline()));
      const problems = shapeProblems(evs, ['accepted', 'set_status', 'set_status']);
      if (problems.length === 0) {
        const [accepted, progress, done] = evs;
        if (accepted.operation !== 'PutInstanceAsync') problems.push(`accepted for ${accepted.operation}`);
        if (progress.flags !== WBEM_STATUS_PROGRESS || progress.current !== 1 || progress.total !== 1) {
          problems.push('the progress SetStatus is not WBEM_STATUS_PROGRESS 1 of 1');
        }
        if (done.flags !== WBEM_STATUS_COMPLETE || done.hresult !== hex(WBEM_S_NO_ERROR)) {
          problems.push('the final SetStatus is not WBEM_STATUS_COMPLETE with WBEM_S_NO_ERROR');
        }
        if (!done.str_param.endsWith(`:${relpath}`)) problems.push(`the final SetStatus names ${done.str_param}`);
      }
      check(step, problems, { ...summary(evs), path: evs.length ? evs[evs.length - 1].str_param : '' });
    } catch (err) {
      fail(step, describeError(err));
    }
  }

  // 3. PutAsync (SWbemServicesEx.PutAsync) with wbemFlagSendStatus and an objWbemAsyncContext:
  // OnProgress, OnObjectPut, OnCompleted(0), each carrying the async context back.
  {
    const step = 'put_async';
    const id = `${INSTANCE_ID}-script`;
    const asyncContext = { values: Object.entries(ASYNC_CONTEXT).map(([name, v]) => ({ name, value: { sint: v } })) };
    try {
      const evs = await collect(step, client.PutAsync({
        namespace: NAMESPACE, object: instance(id, 2), flags: WBEM_FLAG_SEND_STATUS, async_context: asyncContext,
      }, deadline()));
      const problems = shapeProblems(evs, ['accepted', 'progress', 'object_put', 'completed']);
      if (!evs.every((e) => JSON.stringify(e.async_context) === JSON.stringify(ASYNC_CONTEXT))) {
        problems.push('an event does not carry the async context back');
      }
      if (problems.length === 0) {
        const [, progress, put, done] = evs;
        if (progress.upper_bound !== 1 || progress.current !== 1) problems.push('OnProgress is not 1 of 1');
        if (!put.path.endsWith(`:${relpathOf(id)}`)) problems.push(`OnObjectPut names ${put.path}`);
        if (done.hresult !== hex(WBEM_S_NO_ERROR) || done.error_object) problems.push('OnCompleted is not a success');
      }
      check(step, problems, { ...summary(evs), async_context: ASYNC_CONTEXT });
    } catch (err) {
      fail(step, describeError(err));
    }
  }

  // 4. A failure: PutInstanceAsync, WBEM_FLAG_CREATE_ONLY, of the instance step 2 wrote. The call
  // starts (accepted); the final SetStatus carries WBEM_E_ALREADY_EXISTS and the error object.
  {
    const step = 'put_instance_async_again';
    try {
      const evs = await collect(step, client.PutInstanceAsync(
        { namespace: NAMESPACE, object: instance(INSTANCE_ID, 99), flags: WBEM_FLAG_CREATE_ONLY }, deadline()));
      const problems = shapeProblems(evs, ['accepted', 'set_status']);
      let error = null;
      if (problems.length === 0) {
        const done = evs[1];
        error = done.error_object || null;
        if (done.flags !== WBEM_STATUS_COMPLETE || done.hresult !== hex(WBEM_E_ALREADY_EXISTS)) {
          problems.push(`the final SetStatus is ${done.flags_name} ${done.hresult}, not COMPLETE 0x80041019`);
        }
        if (!error || error.name !== 'WBEM_E_ALREADY_EXISTS') problems.push('no WBEM_E_ALREADY_EXISTS error object');
      }
      const hresult = evs.length ? evs[evs.length - 1].hresult : null;
      check(step, problems, { ...summary(evs), hresult, error_object: error });
    } catch (err) {
      fail(step, { error: 'a call that could start failed its RPC', ...describeError(err) });
    }
  }

  // 5. Re-attaching: start a put, read only `accepted` (it holds the call handle), drop the
  // stream on this side, then AttachCall with the handle and after_sequence 0: the call ran on
  // without us, and its events (accepted again, then the final status) are all still there.
  let handle = null;
  {
    const step = 'detach';
    const id = `${INSTANCE_ID}-attach`;
    const stream = client.PutInstanceAsync(
      { namespace: NAMESPACE, object: instance(id, 3), flags: WBEM_FLAG_CREATE_OR_UPDATE }, deadline());
    try {
      const streamStatus = await new Promise((resolve, reject) => {
        stream.once('data', (msg) => {
          const ev = describeEvent(msg.event);
          report('event', { call: step, ...ev });
          if (ev.kind === 'accepted') handle = ev.call_handle;
          stream.cancel(); // the client drops the stream; the call itself is not cancelled
        });
        stream.on('error', (err) =>
          (err.code === grpc.status.CANCELLED && handle ? resolve('CANCELLED') : reject(err)));
        stream.on('end', () => resolve('OK'));
      });
      check(step, handle ? [] : ['the stream did not start with accepted'], { stream_status: streamStatus });
    } catch (err) {
      fail(step, describeError(err));
    }
    if (handle) {
      const attachStep = 'attach_call';
      try {
        const evs = await collect(attachStep,
          client.AttachCall({ call_handle: handle, after_sequence: 0 }, deadline()));
        const problems = shapeProblems(evs, ['accepted', 'set_status']);
        if (problems.length === 0) {
          const [accepted, done] = evs;
          if (accepted.call_handle !== handle || accepted.operation !== 'PutInstanceAsync') {
            problems.push('accepted names another call');
          }
          if (done.flags !== WBEM_STATUS_COMPLETE || done.hresult !== hex(WBEM_S_NO_ERROR)) {
            problems.push('the final SetStatus is not WBEM_STATUS_COMPLETE with WBEM_S_NO_ERROR');
          }
          if (!done.str_param.endsWith(`:${relpathOf(id)}`)) {
            problems.push(`the final SetStatus names ${done.str_param}`);
          }
        }
        check(attachStep, problems, { ...summary(evs), path: evs.length ? evs[evs.length - 1].str_param : '' });
      } catch (err) {
        fail(attachStep, describeError(err));
      }
    }
  }

  // 6. Semisynchronous: PutInstance with WBEM_FLAG_RETURN_IMMEDIATELY answers at once with a
  // call handle; IWbemCallResult::GetCallStatus waits up to 5 s for the outcome (WBEM_S_TIMEDOUT
  // while the call runs: ask again), GetResultString gives the path written.
  {
    const step = 'put_instance_semisync';
    const id = `${INSTANCE_ID}-semi`;
    let callHandle = '';
    try {
      const r = await call(client, 'PutInstance',
        { namespace: NAMESPACE, object: instance(id, 4), flags: WBEM_FLAG_RETURN_IMMEDIATELY });
      callHandle = r.call_handle;
      check(step, callHandle && !r.path ? [] : ['no call handle, or a path before the call ran'],
        { call_handle: callHandle, path: r.path });
    } catch (err) {
      fail(step, describeError(err));
    }
    if (callHandle) {
      // The RPC's deadline leaves room for the wait it asks for.
      const options = () => ({ deadline: Date.now() + CALL_RESULT_TIMEOUT_MS + DEADLINE_MS });
      const request = { call_handle: callHandle, timeout_ms: CALL_RESULT_TIMEOUT_MS };
      try {
        const end = Date.now() + DEADLINE_MS;
        let polls = 0;
        let r;
        do {
          r = await call(callResult, 'GetCallStatus', request, options());
          polls += 1;
        } while (r.hresult === WBEM_S_TIMEDOUT && Date.now() < end);
        const ok = r.hresult === WBEM_S_NO_ERROR && r.call_status === WBEM_S_NO_ERROR;
        check('get_call_status', ok ? [] : ['the call did not end with WBEM_S_NO_ERROR'], {
          polls,
          hresult: hex(r.hresult),
          call_status: r.call_status,
          call_status_name: hresultName(r.call_status),
          error_object: errorObject(r.error_object),
        });
      } catch (err) {
        fail('get_call_status', describeError(err));
      }
      try {
        const r = await call(callResult, 'GetResultString', request, options());
        const ok = r.hresult === WBEM_S_NO_ERROR && r.result_string.endsWith(`:${relpathOf(id)}`);
        check('get_result_string', ok ? [] : ['no result string naming the instance'],
          { hresult: hex(r.hresult), result_string: r.result_string });
      } catch (err) {
        fail('get_result_string', describeError(err));
      }
    }
  }
}

main()
  .catch((err) => fail('unexpected', { error: String(err && err.stack ? err.stack : err) }))
  .finally(() => {
    report('done', { ok: failures === 0, failures });
    process.exitCode = failures === 0 ? 0 : 1;
  });
