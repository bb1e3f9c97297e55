#!/usr/bin/env node
// A wmiput provider in Node.js, written straight against docs/provider-protocol.md (no SDK). It
// serves one provider's task stream and keeps the instances it is given in a JSON file:
//   REDIS_URL=redis://127.0.0.1:6379/0 PREFIX=wmiput NAMESPACE='root\cimv2' PROVIDER=NodeProv \
//   STORE=./store.json node provider.js        (or --redis-url=URL --prefix=P --store=FILE ...)
// It refuses CREATE_ONLY of a stored instance, UPDATE_ONLY of a missing one, Color = "red" and
// partial updates.
'use strict';
const fs = require('fs'), os = require('os'), path = require('path'), crypto = require('crypto');
const protobuf = require('protobufjs');
const { createClient, RESP_TYPES } = require('redis');

const opt = (name, dflt) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : process.env[name.toUpperCase().replace(/-/g, '_')] || dflt;
};
const PREFIX = opt('prefix', 'wmiput'), NAMESPACE = opt('namespace', 'root\\cimv2');
const PROVIDER = opt('provider', 'NodeProv'), STORE = opt('store', 'node-provider-store.json');
const CLAIM_IDLE_MS = Number(opt('claim-idle-ms', '5000'));
const TAG = `${PREFIX}:{p|${NAMESPACE.toLowerCase()}|${PROVIDER.toLowerCase()}}`; // hash tag: one slot
const TASKS = `${TAG}:tasks`, WORKERS = `${TAG}:workers`, GROUP = 'workers';
const WORKER_ID = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
const BIN = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } }; // bulk replies as Buffers: binary-safe
const HR = { WBEM_E_ALREADY_EXISTS: 0x80041019, WBEM_E_NOT_FOUND: 0x80041002, WBEM_E_INVALID_PARAMETER: 0x80041008,
  WBEM_E_PROVIDER_NOT_CAPABLE: 0x80041024, WBEM_E_PROVIDER_FAILURE: 0x80041004, WBEM_E_CALL_CANCELLED: 0x80041032,
  WBEM_E_PROVIDER_TIMED_OUT: 0x80041088 };
const PREPARE = 1, COMMIT = 2, ABORT = 3, PUT = 4; // wmiput.v1.TaskPhase

const root = new protobuf.Root();
root.resolvePath = (_origin, target) => path.join(__dirname, '..', '..', 'proto', target);
root.loadSync('wmiput/v1/provider.proto', { keepCase: true });
const Task = root.lookupType('wmiput.v1.ProviderTask'), Reply = root.lookupType('wmiput.v1.ProviderReply');

// The store: committed instances by lower-cased relpath, and what each "<tx>/<level>" staged.
const store = fs.existsSync(STORE) ? JSON.parse(fs.readFileSync(STORE, 'utf8')) : { items: {}, staged: {} };
const save = () => { fs.writeFileSync(`${STORE}.tmp`, JSON.stringify(store, null, 1)); fs.renameSync(`${STORE}.tmp`, STORE); };
const plain = (v) => (!v ? null : v.array ? (v.array.items || []).map(plain) : v.object ? props(v.object)
  : ['string', 'sint', 'uint', 'real', 'boolean'].map((k) => v[k]).find((x) => x !== undefined) ?? null);
const props = (o) => Object.fromEntries((o.properties || []).map((p) => [p.name, plain(p.value)]));
const refuse = (name, description, parameter_info = '') => Object.assign(new Error(description), { name, parameter_info });

function execute(t) { // one task against the store; throws refuse(...) to say no
  const staged = `${t.transaction_id}/${t.level}`;
  if (t.phase === PREPARE || t.phase === PUT) {
    const relpath = t.object.system.relpath, key = relpath.toLowerCase(), p = props(t.object);
    if ((t.context?.values || []).some((v) => v.name.toLowerCase() === '__put_extensions' && v.value?.boolean)) {
      throw refuse('WBEM_E_PROVIDER_NOT_CAPABLE', `${PROVIDER} does not do partial updates`, '__PUT_EXTENSIONS');
    }
    if (p.Color === 'red') throw refuse('WBEM_E_INVALID_PARAMETER', `${PROVIDER} refuses Color = red`, 'Color');
    if ((t.flags & 0x2) && store.items[key]) throw refuse('WBEM_E_ALREADY_EXISTS', `${relpath} already exists in ${PROVIDER}`, relpath);
    if ((t.flags & 0x1) && !store.items[key]) throw refuse('WBEM_E_NOT_FOUND', `${relpath} is not in ${PROVIDER}`, relpath);
    store.staged[staged] = { relpath: key, class: t.object.class_name, props: p };
  }
  const s = store.staged[staged]; // COMMIT is idempotent: a second one finds nothing staged
  if ((t.phase === COMMIT || t.phase === PUT) && s) store.items[s.relpath] = { class: s.class, props: s.props, tx: t.transaction_id };
  if (t.phase !== PREPARE) delete store.staged[staged];
  save();
}

async function handle(redis, id, buf) {
  let t;
  try { t = Task.toObject(Task.decode(buf), { longs: Number, defaults: true }); } catch { return ack(redis, id); } // malformed: drop
  const done = `${TAG}:done:${t.task_id}`, run = `${TAG}:run:${t.task_id}`;
  let reply = await redis.sendCommand(['GET', done], BIN); // answered before: the same reply again
  if (!reply) {
    if (!await redis.sendCommand(['SET', run, WORKER_ID, 'NX', 'PX', '30000'])) { // the run lease
      const holder = await redis.sendCommand(['GET', run]);
      if (holder && holder !== WORKER_ID) return ack(redis, id); // another live worker runs it and answers
    }
    const r = { task_id: t.task_id, transaction_id: t.transaction_id, phase: t.phase, level: t.level, worker_id: WORKER_ID };
    const voting = t.phase === PREPARE || t.phase === PUT;
    try {
      if (![PREPARE, COMMIT, ABORT, PUT].includes(t.phase)) throw refuse('WBEM_E_INVALID_PARAMETER', `unknown phase ${t.phase}`);
      if (voting && await redis.sendCommand(['EXISTS', `${TAG}:done:${t.transaction_id}/${t.level}/abort`])) {
        throw refuse('WBEM_E_CALL_CANCELLED', 'the transaction was aborted before this task ran');
      }
      if (voting && t.deadline_unix_ms && Date.now() > t.deadline_unix_ms) throw refuse('WBEM_E_PROVIDER_TIMED_OUT', 'the task arrived after its deadline');
      execute(t);
    } catch (e) {
      const name = HR[e.name] ? e.name : 'WBEM_E_PROVIDER_FAILURE';
      if (!HR[e.name]) console.error(e);
      r.hresult = HR[name];
      r.status = { status_code: r.hresult, hresult_name: name, description: e.message, operation: 'PutInstanceAsync',
        parameter_info: e.parameter_info || '', provider_name: PROVIDER };
    }
    reply = Buffer.from(Reply.encode(Reply.fromObject(r)).finish());
    const multi = redis.multi(); // a vote is final; a failed COMMIT/ABORT is not recorded, so a retry runs it again
    if (!r.hresult || voting) multi.addCommand(['SET', done, reply, 'EX', String(24 * 3600)]);
    await multi.addCommand(['DEL', run]).exec();
  }
  if (t.reply_to) await redis.multi().addCommand(['XADD', t.reply_to, '*', 'reply', reply]).addCommand(['EXPIRE', t.reply_to, '3600']).exec();
  return ack(redis, id);
}
const ack = (redis, id) => redis.multi().addCommand(['XACK', TASKS, GROUP, id]).addCommand(['XDEL', TASKS, id]).exec();
const field = (flat, name) => { for (let i = 0; i < flat.length; i += 2) if (flat[i].toString() === name) return flat[i + 1]; };

async function main() {
  const redis = createClient({ url: opt('redis-url', 'redis://127.0.0.1:6379/0') });
  const reader = redis.duplicate(); // XREADGROUP BLOCK gets a connection of its own
  for (const c of [redis, reader]) { c.on('error', (e) => console.error('redis:', e.message)); await c.connect(); }
  const group = () => redis.sendCommand(['XGROUP', 'CREATE', TASKS, GROUP, '0', 'MKSTREAM'])
    .catch((e) => { if (!/BUSYGROUP/.test(e.message)) throw e; });
  await group();
  const inHand = new Set(); let stopping = false, lastClaim = Date.now();
  const beat = () => redis.sendCommand(['HSET', WORKERS, WORKER_ID, JSON.stringify({ hostname: os.hostname(), pid: process.pid, last_seen_unix_ms: Date.now() })]);
  await beat();
  const timer = setInterval(() => beat() // the heartbeat, and our pending tasks kept fresh (not taken over)
    .then(() => inHand.size && redis.sendCommand(['XCLAIM', TASKS, GROUP, WORKER_ID, '0', ...inHand, 'JUSTID']))
    .catch((e) => console.error('heartbeat:', e.message)), 1000);
  process.on('SIGTERM', () => { stopping = true; }).on('SIGINT', () => { stopping = true; });
  console.error(`serving ${TASKS} as ${WORKER_ID}`);
  while (!stopping) {
    const got = [];
    try {
      got.push(...((await reader.sendCommand(['XREADGROUP', 'GROUP', GROUP, WORKER_ID, 'COUNT', '16', 'BLOCK', '1000', 'STREAMS', TASKS, '>'], BIN)) || []));
      if (Date.now() - lastClaim > CLAIM_IDLE_MS / 2) { // take over what a dead worker left pending
        lastClaim = Date.now();
        got.push([TASKS, (await redis.sendCommand(['XAUTOCLAIM', TASKS, GROUP, WORKER_ID, String(CLAIM_IDLE_MS), '0-0', 'COUNT', '16'], BIN))[1]]);
      }
    } catch (e) {
      if (/NOGROUP/.test(e.message)) await group(); else { console.error('read:', e.message); await new Promise((r) => setTimeout(r, 500)); }
    }
    for (const [, entries] of got) for (const [id] of entries) inHand.add(id);
    for (const [, entries] of got) {
      for (const [id, fields] of entries) { // one at a time; an exception leaves the task pending for a retry
        await (fields ? handle(redis, id, field(fields, 'task')) : ack(redis, id)).catch((e) => console.error('task:', e.message));
        inHand.delete(id);
      }
    }
  }
  clearInterval(timer);
  await redis.sendCommand(['HDEL', WORKERS, WORKER_ID]);
  await Promise.all([redis.close(), reader.close()]);
}
main().catch((e) => { console.error(e); process.exit(1); });
