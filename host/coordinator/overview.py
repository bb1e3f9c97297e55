"""What is in doubt: the provider-backed puts whose two-phase commit has not finished, read from
their records in Redis (host/coordinator/transactions.py) for ListTransactions and `wmiput status`.

Every unfinished transaction is listed in P:{meta}:tx:active (by start time) until its record is
marked done; its hash P:{tx|<id>} holds the state, the owner (the host driving it, "" once handed
to recovery), the creator's TxMeta and "cancelled" if CancelAsyncCall asked. Reading is not atomic
with the puts: a transaction may finish between the two reads, and is then left out.
"""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

from host.repository.keys import Keys
from wmiput.v1 import services_pb2 as api

MAX_LIMIT = 1000
STATES = {
    "preparing": api.TRANSACTION_STATE_PREPARING,
    "putting": api.TRANSACTION_STATE_PUTTING,
    "commit": api.TRANSACTION_STATE_COMMITTING,
    "abort": api.TRANSACTION_STATE_ABORTING,
}


async def list_transactions(redis: Redis, keys: Keys, namespace: str = "", limit: int = 0
                            ) -> api.ListTransactionsResponse:
    """The unfinished transactions, oldest first; of `namespace` only if given (any case)."""
    limit = MAX_LIMIT if limit <= 0 else min(limit, MAX_LIMIT)
    async with redis.pipeline(transaction=False) as p:
        p.zcard(keys.active_transactions)
        p.zrange(keys.active_transactions, 0, MAX_LIMIT - 1, withscores=True)
        total, listed = await p.execute()
    ids = [raw.decode() for raw, _score in listed]
    if not ids:
        return api.ListTransactionsResponse(total_unfinished=int(total))
    async with redis.pipeline(transaction=False) as p:  # one round trip for every record
        for tx_id in ids:
            p.hmget(keys.tx(tx_id), "state", "owner", "meta", "created_ms", "cancelled", "done")
        records = await p.execute()
    now_ms = int(time.time() * 1000)
    out: list[api.TransactionInfo] = []
    for tx_id, (state, owner, meta_raw, created, cancelled, done) in zip(ids, records, strict=True):
        if state is None or meta_raw is None or done:  # gone, or finished while we read
            continue
        try:
            meta = json.loads(meta_raw)
        except ValueError:
            continue
        if namespace and str(meta.get("ns", "")).lower() != namespace.lower():
            continue
        created_ms = int(created or 0)
        out.append(api.TransactionInfo(
            transaction_id=tx_id, namespace=meta.get("ns", ""), class_name=meta.get("class_name", ""),
            relpath=meta.get("relpath", ""), state=STATES.get(state.decode(), api.TRANSACTION_STATE_UNSPECIFIED),
            owner_host=(owner or b"").decode(), creator_host=meta.get("creator", ""), created_unix_ms=created_ms,
            age_ms=max(0, now_ms - created_ms) if created_ms else 0, deadline_unix_ms=int(meta.get("deadline_ms", 0)),
            providers=[lv[2] for lv in meta.get("levels", []) if len(lv) > 2 and lv[2]],
            cancel_requested=bool(cancelled)))
        if len(out) >= limit:
            break
    owners = sorted({t.owner_host for t in out if t.owner_host})
    if owners:
        async with redis.pipeline(transaction=False) as p:
            for host in owners:
                p.exists(keys.host_alive(host))
            alive = dict(zip(owners, await p.execute(), strict=True))
        for t in out:
            t.owner_alive = bool(alive.get(t.owner_host))
    return api.ListTransactionsResponse(transactions=out, total_unfinished=int(total))
