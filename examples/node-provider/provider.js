#!/usr/bin/env node
// A wmiput provider straight against docs/provider-protocol.md (no SDK), keeping its instances in a JSON file:
//   REDIS_URL=redis://127.0.0.1:6379/0 PREFIX=wmiput NAMESPACE='root\cimv2' PROVIDER=NodeProv STORE=./store.json \
//   node provider.js                                   (or --redis-url=URL --prefix=P --store=FILE ...)
// With the host's task key: TASK_KEY_FILE=./task.key (or --task-key-file=FILE).
'use strict';
const fs = require('fs'), os = require('os'), path = require('path'), crypto = require('crypto');
const protobuf = require('protobufjs'), { createClient, RESP_TYPES } = require('redis');

const opt = (name, dflt) => (process.argv.find((a) => a.startsWith(`--${name}=`)) || '').slice(name.length + 3)
  || process.env[name.toUpperCase().replace(/-/g, '_')] || dflt; // --name=value, else the variable NAME
const PREFIX = opt('prefix', 'wmiput'), NAMESPACE = opt('namespace', 'root\\cimv2');
const PROVIDER = opt('provider', 'NodeProv'), STORE = opt('store', 'node-provider-store.json');
const TAG = `${PREFIX}:{p|${NAMESPACE.toLowerCase()}|${PROVIDER.toLowerCase()}}`; // lower-case; one hash slot
const TASKS = `${TAG}:tasks`, WORKERS = `${TAG}:workers`, GROUP = 'workers', CLAIM_IDLE_MS = +opt('claim-idle-ms', 5e3);
const WORKER_ID = `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
const BIN = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } }; // bulk replies as Buffers: binary-safe
const PREPARE = 1, COMMIT = 2, ABORT = 3, PUT = 4; // wmiput.v1.TaskPhase

// The task key (--task-key-file / TASK_KEY_FILE, the host's --task-key-file): run only tasks the host
// signed, sign replies (docs/provider-protocol.md §5). Trimmed of ASCII whitespace, as the host does.
const KEY = (() => {
  const file = opt('task-key-file', ''); if (!file) return null;
  let k = fs.readFileSync(file), a = 0, b = k.length; const ws = (c) => [9, 10, 11, 12, 13, 32].includes(c);
  while (a < b && ws(k[a])) a++; while (b > a && ws(k[b - 1])) b--; k = k.subarray(a, b);
  if (k.length < 32) throw new Error(`${file}: a task key needs at least 32 bytes`);
  return k;
})();
const mac = (kind, stream, payload) => crypto.createHmac('sha256', KEY)
  .update(Buffer.concat([Buffer.from(`${kind}\0${stream}\0`), payload])).digest('hex');
const signedBy = (kind, stream, payload, sig) => {
  if (!KEY) return true;
  const want = Buffer.from(mac(kind, stream, payload)), got = Buffer.from(sig === undefined ? '' : `${sig}`);
  return got.length === want.length && crypto.timingSafeEqual(got, want);
};
const isReplyStream = (key) => key.startsWith(`${PREFIX}:{h|`) && key.endsWith('}:replies') && key.length < 1024;

const root = Object.assign(new protobuf.Root(), { resolvePath: (_o, f) => path.join(__dirname, '../../proto', f) })
  .loadSync('wmiput/v1/provider.proto', { keepCase: true }); // with its imports: status.proto has the HRESULTs
const Task = root.lookupType('wmiput.v1.ProviderTask'), Reply = root.lookupType('wmiput.v1.ProviderReply');
const HRESULT = root.lookupEnum('wmiput.v1.HResult').values; // signed; `>>> 0` gives the uint32 on the wire

// The store: committed instances by lower-cased relpath, and what each "<tx>/<level>" staged.
const store = fs.existsSync(STORE) ? JSON.parse(fs.readFileSync(STORE, 'utf8')) : { items: {}, staged: {} };
const plain = (v) => (!v ? null : v.array ? (v.array.items || []).map(plain) : v.object ? props(v.object)
  : ['string', 'sint', 'uint', 'real', 'boolean'].map((k) => v[k]).find((x) => x !== undefined) ?? null);
const props = (o) => Object.fromEntries((o.properties || []).map((p) => [p.name, plain(p.value)]));
const no = (name, description, parameter_info = '') => Object.assign(new Error(description), { name, parameter_info });

function execute(t) { // one task against the store; throws no(...) to refuse
  const staged = `${t.transaction_id}/${t.level}`;
  if (t.phase === PREPARE || t.phase === PUT) {
    const relpath = t.object.system.relpath, key = relpath.toLowerCase(), p = props(t.object);
    const ctx = Object.fromEntries((t.context?.values || []).map((v) => [v.name.toLowerCase(), plain(v.value)]));
    if (ctx.__put_extensions) throw no('WBEM_E_PROVIDER_NOT_CAPABLE', 'no partial updates here', '__PUT_EXTENSIONS');
    if (p.Color === 'red') throw no('WBEM_E_INVALID_PARAMETER', `${PROVIDER} refuses Color = red`, 'Color');
    if (t.flags & 0x2 && store.items[key]) throw no('WBEM_E_ALREADY_EXISTS', `${relpath} already exists`, relpath);
    if (t.flags & 0x1 && !store.items[key]) throw no('WBEM_E_NOT_FOUND', `${relpath} does not exist`, relpath);
    store.staged[staged] = { key, item: { class: t.object.class_name, props: p } };
  } else if (t.phase !== COMMIT && t.phase !== ABORT) throw no('WBEM_E_INVALID_PARAMETER', `unknown phase ${t.phase}`);
  const s = store.staged[staged]; // a second COMMIT finds nothing staged: idempotent
  if (s && (t.phase === COMMIT || t.phase === PUT)) store.items[s.key] = { ...s.item, tx: t.transaction_id };
  if (t.phase !== PREPARE) delete store.staged[staged];
  fs.writeFileSync(`${STORE}.tmp`, JSON.stringify(store, null, 1));
  fs.renameSync(`${STORE}.tmp`, STORE);
}

async function handle(redis, id, buf, sig) {
  if (!buf || !signedBy('task', TASKS, buf, sig)) { // nobody holding the key wrote it: never run, never answered
    console.error(`rejected entry ${id}: no task, or not signed with the task key`); return ack(redis, id);
  }
  let t; try { t = Task.toObject(Task.decode(buf), { longs: Number, defaults: true }); } catch { return ack(redis, id) }
  if (t.reply_to && !isReplyStream(t.reply_to)) return ack(redis, id); // replies go to a host's reply stream only
  const done = `${TAG}:done:${t.task_id}`, run = `${TAG}:run:${t.task_id}`;
  let reply = await redis.sendCommand(['GET', done], BIN); // answered before: the same reply again
  if (!reply) {
    if (!await redis.sendCommand(['SET', run, WORKER_ID, 'NX', 'PX', '30000']) // the run lease; if another worker
      && (await redis.sendCommand(['GET', run]) ?? WORKER_ID) !== WORKER_ID) return; // runs it: leave the entry pending
    const r = { task_id: t.task_id, transaction_id: t.transaction_id, phase: t.phase, level: t.level };
    r.worker_id = WORKER_ID;
    const voting = t.phase === PREPARE || t.phase === PUT;
    try {
      const abort = `${TAG}:done:${t.transaction_id}/${t.level}/abort`; // this level's ABORT was done: refuse
      if (voting && await redis.sendCommand(['EXISTS', abort])) throw no('WBEM_E_CALL_CANCELLED', 'already aborted');
      if (voting && Date.now() > (t.deadline_unix_ms || Infinity)) throw no('WBEM_E_PROVIDER_TIMED_OUT', 'too late');
      execute(t);
    } catch (e) {
      const name = e.name in HRESULT ? e.name : (console.error(e), 'WBEM_E_PROVIDER_FAILURE'); // a bug of ours
      r.hresult = HRESULT[name] >>> 0;
      r.status = { status_code: r.hresult, hresult_name: name, description: e.message, operation: 'PutInstanceAsync',
        parameter_info: e.parameter_info || '', provider_name: PROVIDER };
    }
    reply = Buffer.from(Reply.encode(Reply.fromObject(r)).finish());
    const multi = redis.multi().addCommand(['DEL', run]); // a vote is final; a failed COMMIT/ABORT is not recorded
    await (!r.hresult || voting ? multi.addCommand(['SET', done, reply, 'EX', '86400']) : multi).exec(); // (retried)
  }
  const signature = KEY ? ['sig', mac('reply', t.reply_to, reply)] : [];
  if (t.reply_to) await redis.multi().addCommand(['XADD', t.reply_to, '*', 'reply', reply, ...signature])
    .addCommand(['EXPIRE', t.reply_to, '3600']).exec();
  return ack(redis, id);
}
const ack = (redis, id) => redis.multi().addCommand(['XACK', TASKS, GROUP, id]).addCommand(['XDEL', TASKS, id]).exec();
const field = (kv, name) => { for (let i = 0; i < kv.length; i += 2) if (`${kv[i]}` === name) return kv[i + 1]; };

async function main() {
  const redis = createClient({ url: opt('redis-url', 'redis://127.0.0.1:6379/0') });
  const reader = redis.duplicate(); // XREADGROUP BLOCK gets a connection of its own
  for (const c of [redis, reader]) { c.on('error', (e) => console.error('redis:', e.message)); await c.connect(); }
  const group = () => redis.sendCommand(['XGROUP', 'CREATE', TASKS, GROUP, '0', 'MKSTREAM'])
    .catch((e) => { if (!/BUSYGROUP/.test(e.message)) throw e; });
  const beat = () => redis.sendCommand(['HSET', WORKERS, WORKER_ID,
    JSON.stringify({ hostname: os.hostname(), pid: process.pid, last_seen_unix_ms: Date.now() })]);
  await group(); await beat();
  const inHand = new Set(); let stopping = false, lastClaim = Date.now(); // inHand: entries read, not yet answered
  const timer = setInterval(() => beat() // the heartbeat; and our pending tasks kept fresh, so none is taken over
    .then(() => inHand.size && redis.sendCommand(['XCLAIM', TASKS, GROUP, WORKER_ID, '0', ...inHand, 'JUSTID']))
    .catch((e) => console.error('heartbeat:', e.message)), 1000);
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { stopping = true; });
  console.error(`serving ${TASKS} as ${WORKER_ID}`);
  while (!stopping) {
    const got = [];
    try {
      const read = ['XREADGROUP', 'GROUP', GROUP, WORKER_ID, 'COUNT', '16', 'BLOCK', '1000', 'STREAMS', TASKS, '>'];
      got.push(...((await reader.sendCommand(read, BIN)) || []));
      if (Date.now() - lastClaim > CLAIM_IDLE_MS / 2) { // take over what a dead worker left pending
        lastClaim = Date.now();
        const claim = ['XAUTOCLAIM', TASKS, GROUP, WORKER_ID, String(CLAIM_IDLE_MS), '0-0', 'COUNT', '16'];
        got.push([TASKS, (await redis.sendCommand(claim, BIN))[1]]);
      }
    } catch (e) {
      if (/NOGROUP/.test(e.message)) await group(); // the stream was reset (a Redis without its data)
      else { console.error('read:', e.message); await new Promise((r) => setTimeout(r, 500)); }
    }
    const entries = got.flatMap(([, list]) => list); entries.forEach(([id]) => inHand.add(id));
    for (const [id, fields] of entries) { // one at a time; one that throws stays pending, to be claimed again
      await (fields ? handle(redis, id, field(fields, 'task'), field(fields, 'sig')) : ack(redis, id))
        .catch((e) => console.error(e));
      inHand.delete(id);
    }
  }
  clearInterval(timer); await redis.sendCommand(['HDEL', WORKERS, WORKER_ID]); // not live any more
  await Promise.all([redis.close(), reader.close()]);
}
main().catch((e) => { console.error(e); process.exit(1); });
