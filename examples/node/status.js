#!/usr/bin/env node
// A Node.js view of what `wmiput status` shows: the registered providers of a namespace with
// their live workers and task streams (ListProviders), and the provider-backed puts whose
// two-phase commit has not finished (ListTransactions, administrators only when the host
// authenticates). Prints one JSON object and exits 0; exits 1 with the error when a call fails.
//
//   node status.js [ADDRESS]
//
// ADDRESS defaults to 127.0.0.1:50051. WMIPUT_NAMESPACE (default root\cimv2), WMIPUT_TOKEN (a
// bearer token), WMIPUT_CLIENT_CA / _CERT / _KEY (TLS) and WMIPUT_DEADLINE_MS (default 15000)
// work as for put_and_read_error.js.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const ADDRESS = process.argv[2] || '127.0.0.1:50051';
const NAMESPACE = process.env.WMIPUT_NAMESPACE || 'root\\cimv2';
const DEADLINE_MS = Number(process.env.WMIPUT_DEADLINE_MS) || 15000;

const packageDefinition = protoLoader.loadSync(['wmiput/v1/services.proto'], {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR],
});
const wmiput = grpc.loadPackageDefinition(packageDefinition).wmiput.v1;

function channelCredentials() {
  const ca = process.env.WMIPUT_CLIENT_CA;
  if (!ca) return grpc.credentials.createInsecure();
  const read = (name) => (process.env[name] ? fs.readFileSync(process.env[name]) : null);
  return grpc.credentials.createSsl(fs.readFileSync(ca), read('WMIPUT_CLIENT_KEY'), read('WMIPUT_CLIENT_CERT'));
}

function call(client, method, request) {
  const md = new grpc.Metadata();
  if (process.env.WMIPUT_TOKEN) md.set('authorization', `Bearer ${process.env.WMIPUT_TOKEN}`);
  return new Promise((resolve, reject) => {
    client[method](request, md, { deadline: Date.now() + DEADLINE_MS },
      (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

async function main() {
  const client = new wmiput.WbemService(ADDRESS, channelCredentials());
  try {
    const providers = await call(client, 'ListProviders', { namespace: NAMESPACE });
    const txs = await call(client, 'ListTransactions', { namespace: NAMESPACE });
    const now = Date.now();
    console.log(JSON.stringify({
      namespace: NAMESPACE,
      providers: providers.providers.map((p) => ({
        name: p.name, supports_put: p.supports_put, classes: p.classes, backlog: Number(p.backlog),
        pending: Number(p.pending), oldest_pending_ms: Number(p.oldest_pending_ms),
        workers: p.workers.map((w) => ({
          id: w.worker_id, host: w.hostname, pid: w.pid, heartbeat_age_ms: now - Number(w.last_seen_unix_ms),
          tasks_in_flight: Number(w.tasks_in_flight),
        })),
      })),
      transactions: txs.transactions,
      transactions_unfinished: Number(txs.total_unfinished),
    }));
  } catch (err) {
    const [name] = (err.metadata && err.metadata.get('wbem-hresult-name')) || [];
    console.log(JSON.stringify({ error: err.details, hresult: name === undefined ? null : String(name) }));
    process.exitCode = 1;
  } finally {
    client.close();
  }
}

main();
