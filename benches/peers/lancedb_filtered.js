// Copied from the peers harness (its node/vec_filtered.js); needs Node and the npm packages that
// setup.sh beside it installs (NODE_PATH=<peers>/node/node_modules); common.js beside it is the harness's.
// LanceDB filtered vector search (a `where` prefilter), the peer of mnemo's bench_vector "filtered"
// lines: rows carry b = i % 1000, the filter is `b < L` for selectivities 0.1 %..100 %, k = 10,
// (a where() filter is a prefilter by default in this version; postfilter() would opt out),
// recall@10 against a brute force over the passing rows (as bench_vector's filtered_truth).
// usage: node lancedb_filtered.js BASE.fvecs QUERY.fvecs [MODES=flat,hnsw_sq] [M=16 EFC=200 EF=64]
//        [SCALAR=0,1 (without / with a BTREE index on b)] [SEL=0.001,0.01,0.1,0.5,1] [MIN_S=0.5]
// Version: @lancedb/lancedb 0.31.0 (apache-arrow 18.1.0), as in the peers README.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const C = require('./common');

const [baseP, queryP, ...rest] = process.argv.slice(2);
if (!queryP) { console.error('usage: node vec_filtered.js BASE.fvecs QUERY.fvecs [KEY=VALUE...]'); process.exit(1); }
const opt = Object.fromEntries(rest.map((kv) => kv.split('=')));
const list = (s, d) => (s || d).split(',').filter(Boolean);
const base = C.readFvecs(baseP), q = C.readFvecs(queryP);
const dim = base.dim, n = base.n, nq = q.n, K = 10;
const workDir = fs.mkdtempSync(path.join(opt.TMP || os.tmpdir(), 'peer-lance-filtered-'));

// exact top K among rows with i % 1000 < lim: the ground truth of one filtered query
function truth(qi, lim) {
  const qr = q.row(qi), best = [];
  for (let i = 0; i < n; i++) {
    if (i % 1000 >= lim) continue;
    let d = 0; const off = i * dim;
    for (let j = 0; j < dim; j++) { const x = base.data[off + j] - qr[j]; d += x * x; }
    if (best.length === K && d >= best[K - 1][0]) continue;
    best.push([d, i]); best.sort((a, b) => a[0] - b[0]); if (best.length > K) best.pop();
  }
  return best;
}

async function main() {
  const lancedb = require('@lancedb/lancedb');
  const arrow = require('apache-arrow');
  const version = C.pkgVersion('@lancedb/lancedb');
  const db = await lancedb.connect(path.join(workDir, 'lance'));
  const child = new arrow.Field('item', new arrow.Float32(), true);
  const vtype = new arrow.FixedSizeList(dim, child);
  const schema = new arrow.Schema([new arrow.Field('id', new arrow.Int32(), false), new arrow.Field('b', new arrow.Int32(), false),
    new arrow.Field('vector', vtype, false)]);
  const ids = Int32Array.from({ length: n }, (_, i) => i), bs = Int32Array.from({ length: n }, (_, i) => i % 1000);
  const vdata = arrow.makeData({ type: vtype, length: n, nullCount: 0,
    child: arrow.makeData({ type: new arrow.Float32(), length: n * dim, nullCount: 0, data: base.data }) });
  const col = (d) => arrow.makeData({ type: new arrow.Int32(), length: n, nullCount: 0, data: d });
  const batch = new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, nullCount: 0,
    children: [col(ids), col(bs), vdata] }));
  const table = await db.createTable('vecs', new arrow.Table([batch]), { mode: 'overwrite' });
  const sels = list(opt.SEL, '0.001,0.01,0.1,0.5,1').map(Number);
  const gts = new Map(sels.map((s) => [s, Array.from({ length: nq }, (_, i) => truth(i, Math.round(s * 1000)))]));
  const m = +(opt.M || 16), efc = +(opt.EFC || 200), ef = +(opt.EF || 64);
  for (const scalar of list(opt.SCALAR, '0,1').map(Number)) {
    if (scalar) await table.createIndex('b', { config: lancedb.Index.btree(), replace: true });
    for (const mode of list(opt.MODES, 'flat,hnsw_sq')) {
      if (mode === 'hnsw_sq')
        await table.createIndex('vector', { config: lancedb.Index.hnswSq({ distanceType: 'l2', numPartitions: 1, m, efConstruction: efc }), replace: true });
      for (const s of sels) {
        const lim = Math.round(s * 1000), gt = gts.get(s);
        const r = await C.timed(nq, async () => { let h = 0;
          for (let i = 0; i < nq; i++) {
            let qy = table.vectorSearch(Array.from(q.row(i))).distanceType('l2').where(`b < ${lim}`).limit(K).select(['id', '_distance']);
            qy = mode === 'flat' ? qy.bypassVectorIndex() : qy.nprobes(1).ef(ef);
            const rows = await qy.toArray();
            const top = new Set(gt[i].map((x) => x[1]));
            for (const row of rows) if (top.has(row.id)) h++;
          }
          return h; }, +(opt.MIN_S || 0.5));
        C.emit({ peer: 'lancedb', version, op: 'filtered', n, dim, nq, k: K, filter: `b < ${lim}`, selectivity: s, prefilter: true,
          index: mode === 'flat' ? 'none (brute force)' : 'IVF_HNSW_SQ', ...(mode === 'flat' ? {} : { M: m, efc, ef, partitions: 1 }),
          scalar_index: scalar ? 'btree on b' : 'none',
          threads: 'lance-managed (LANCE_CPU_THREADS=' + (process.env.LANCE_CPU_THREADS || 'default') + ')',
          recall_at_10: +(r.recall).toFixed(4), qps: +r.qps.toFixed(1) });
      }
    }
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; })
  .finally(() => { if (!opt.KEEP) fs.rmSync(workDir, { recursive: true, force: true }); });
