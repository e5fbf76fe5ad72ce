// Copied from the team's peers harness (peers/node/vec_peers.js) with one change: usearch's
// quantization is a setting (QUANT=f32|i8; the harness fixes f32), for the peers of bench_vector's
// int8 lines (usearch i8, LanceDB IVF_HNSW_SQ). Needs Node and the harness's npm packages
// (NODE_PATH=<peers>/node/node_modules); common.js beside it is the harness's.
// Versions: npm usearch 2.26.2, @lancedb/lancedb 0.31.0 (apache-arrow 18.1.0), as in the peers README.
// Vector peers on fvecs input: usearch, sqlite-vec, LanceDB.
// usage: node vec_peers.js PEER BASE.fvecs QUERY.fvecs GT.ivecs [settings]
//   PEER usearch   settings: M=16 EFC=200 EF=16,32,64,128 QUANT=f32|i8 (default f32)
//   PEER sqlitevec settings: (none; vec0 KNN is brute force)
//   PEER lancedb   settings: MODES=flat,hnsw_sq,ivf_pq M EFC EF=16,.. (IVF_HNSW_SQ) NPROBES=5,10,20,50 REFINE=1,10
//                  PARTITIONS=sqrt(n) SUBVECTORS=dim/8 (IVF_PQ) HNSW_PARTITIONS=1 MIN_S=0.5
// Settings are passed as KEY=VALUE arguments. Prints one JSON line per measured setting.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const C = require('./common');

const [peer, baseP, queryP, gtP, ...rest] = process.argv.slice(2);
if (!gtP) { console.error('usage: node vec_peers.js usearch|sqlitevec|lancedb BASE QUERY GT [KEY=VALUE...]'); process.exit(1); }
const opt = Object.fromEntries(rest.map((kv) => kv.split('=')));
const list = (s, d) => (s || d).split(',').filter(Boolean);
const base = C.readFvecs(baseP), q = C.readFvecs(queryP), gt = C.readIvecs(gtP);
const dim = base.dim, n = base.n, nq = q.n;
const dataRss = C.rssMb();
const workDir = fs.mkdtempSync(path.join(opt.TMP || os.tmpdir(), `peer-${peer}-`));
const common = { n, dim, nq, k: 10 };

async function usearchPeer() {
  const { Index } = require('usearch');
  const M = +(opt.M || 16), efc = +(opt.EFC || 200);
  const efs = list(opt.EF, '16,32,64,128').map(Number);
  const quant = opt.QUANT || 'f32';
  const mk = (ef) => new Index({ dimensions: dim, metric: 'l2sq', quantization: quant, connectivity: M, expansion_add: efc, expansion_search: ef });
  const keys = new BigUint64Array(n); for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  let idx = mk(efs[0]);
  const t0 = C.now();
  idx.add(keys, base.data, 1); // threads=1
  const build = C.now() - t0;
  const file = path.join(workDir, 'usearch.idx'); idx.save(file);
  for (const ef of efs) {
    // expansion_search is fixed at construction in the JS binding: reload the saved graph into an index made with this ef
    if (ef !== efs[0]) { idx = mk(ef); idx.load(file); }
    const r = await C.timed(nq, () => { let h = 0;
      for (let i = 0; i < nq; i++) { const m = idx.search(q.row(i), 10, 1); h += C.hits10(gt, i, m.keys); }
      return h; });
    C.emit({ peer: 'usearch', quantization: quant, version: C.pkgVersion('usearch'), ...common, M, efc, ef, threads: 1, build_s: +build.toFixed(3),
      index_file_bytes: fs.statSync(file).size, // its saved form: graph + vectors (no memory figure in the JS binding)
      recall_at_10: +r.recall.toFixed(4), qps: Math.round(r.qps), peak_rss_mb: C.rssMb(), data_rss_mb: dataRss });
  }
}

async function sqlitevecPeer() {
  const Database = require('better-sqlite3');
  const sqliteVec = require('sqlite-vec');
  const file = opt.INMEM ? ':memory:' : path.join(workDir, 'vec.db');
  const db = new Database(file);
  sqliteVec.load(db);
  db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL');
  const [{ v: vecVersion }] = db.prepare('select vec_version() as v').all();
  db.exec(`CREATE VIRTUAL TABLE v USING vec0(embedding float[${dim}])`);
  const ins = db.prepare('INSERT INTO v(rowid, embedding) VALUES (?, ?)');
  const t0 = C.now();
  db.transaction(() => { for (let i = 0; i < n; i++) { const r = base.row(i); ins.run(BigInt(i), Buffer.from(r.buffer, r.byteOffset, r.byteLength)); } })();
  const build = C.now() - t0;
  const knn = db.prepare('SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = 10 ORDER BY distance');
  const r = await C.timed(nq, () => { let h = 0;
    for (let i = 0; i < nq; i++) { const qr = q.row(i);
      const rows = knn.all(Buffer.from(qr.buffer, qr.byteOffset, qr.byteLength)); h += C.hits10(gt, i, rows.map((x) => x.rowid)); }
    return h; }, +(opt.MIN_S || 0.5));
  C.emit({ peer: 'sqlite-vec', version: vecVersion, sqlite: db.prepare('select sqlite_version() v').get().v,
    better_sqlite3: C.pkgVersion('better-sqlite3'), ...common, index: 'vec0 brute force', storage: file === ':memory:' ? 'memory' : 'file',
    threads: 1, load_s: +build.toFixed(3), recall_at_10: +r.recall.toFixed(4), qps: +r.qps.toFixed(1), peak_rss_mb: C.rssMb(), data_rss_mb: dataRss });
  db.close();
}

async function lancedbPeer() {
  const lancedb = require('@lancedb/lancedb');
  const arrow = require('apache-arrow');
  const version = C.pkgVersion('@lancedb/lancedb');
  const db = await lancedb.connect(path.join(workDir, 'lance'));
  // Arrow table: id int32, vector FixedSizeList<float32>[dim]
  const child = new arrow.Field('item', new arrow.Float32(), true);
  const vtype = new arrow.FixedSizeList(dim, child);
  const schema = new arrow.Schema([new arrow.Field('id', new arrow.Int32(), false), new arrow.Field('vector', vtype, false)]);
  const ids = Int32Array.from({ length: n }, (_, i) => i);
  const vdata = arrow.makeData({ type: vtype, length: n, nullCount: 0,
    child: arrow.makeData({ type: new arrow.Float32(), length: n * dim, nullCount: 0, data: base.data }) });
  const idData = arrow.makeData({ type: new arrow.Int32(), length: n, nullCount: 0, data: ids });
  const batch = new arrow.RecordBatch(schema, arrow.makeData({ type: new arrow.Struct(schema.fields), length: n, nullCount: 0, children: [idData, vdata] }));
  const tbl = new arrow.Table([batch]);
  const t0 = C.now();
  const table = await db.createTable('vecs', tbl, { mode: 'overwrite' });
  const load = C.now() - t0;
  const run = async (label, extra, configure) => {
    const r = await C.timed(nq, async () => { let h = 0;
      for (let i = 0; i < nq; i++) {
        let qy = table.vectorSearch(Array.from(q.row(i))).distanceType('l2').limit(10).select(['id', '_distance']);
        qy = configure(qy);
        const rows = await qy.toArray(); h += C.hits10(gt, i, rows.map((x) => x.id)); }
      return h; }, +(opt.MIN_S || 0.5));
    C.emit({ peer: 'lancedb', version, ...common, index: label, ...extra, threads: 'lance-managed (LANCE_CPU_THREADS=' + (process.env.LANCE_CPU_THREADS || 'default') + ')',
      load_s: +load.toFixed(3), recall_at_10: +r.recall.toFixed(4), qps: +r.qps.toFixed(1), peak_rss_mb: C.rssMb(), data_rss_mb: dataRss });
  };
  for (const mode of list(opt.MODES, 'flat,hnsw_sq,ivf_pq')) {
    if (mode === 'flat') { await run('none (brute force)', {}, (qy) => qy.bypassVectorIndex()); continue; }
    const parts = +(opt.PARTITIONS || Math.max(1, Math.round(Math.sqrt(n)))); // LanceDB's own default: sqrt(rows)
    let cfg, extra;
    if (mode === 'hnsw_sq') {
      const m = +(opt.M || 16), efc = +(opt.EFC || 200);
      cfg = lancedb.Index.hnswSq({ distanceType: 'l2', numPartitions: +(opt.HNSW_PARTITIONS || 1), m, efConstruction: efc });
      extra = { M: m, efc, partitions: +(opt.HNSW_PARTITIONS || 1) };
    } else if (mode === 'ivf_pq') {
      const sub = +(opt.SUBVECTORS || dim / 8);
      cfg = lancedb.Index.ivfPq({ distanceType: 'l2', numPartitions: parts, numSubVectors: sub });
      extra = { partitions: parts, sub_vectors: sub };
    } else throw new Error('unknown mode ' + mode);
    const t1 = C.now();
    await table.createIndex('vector', { config: cfg, replace: true });
    const build = C.now() - t1;
    if (mode === 'hnsw_sq') {
      for (const ef of list(opt.EF, '16,32,64,128').map(Number))
        await run('IVF_HNSW_SQ', { ...extra, ef, build_s: +build.toFixed(3) }, (qy) => qy.nprobes(extra.partitions).ef(ef));
    } else {
      for (const np of list(opt.NPROBES, '5,10,20,50').map(Number))
        for (const rf of list(opt.REFINE, '1,10').map(Number))
          await run('IVF_PQ', { ...extra, nprobes: np, refine_factor: rf, build_s: +build.toFixed(3) }, (qy) => { qy = qy.nprobes(np); return rf > 1 ? qy.refineFactor(rf) : qy; });
    }
  }
}

(async () => {
  try {
    if (peer === 'usearch') await usearchPeer();
    else if (peer === 'sqlitevec') await sqlitevecPeer();
    else if (peer === 'lancedb') await lancedbPeer();
    else throw new Error('unknown peer ' + peer);
  } finally { if (!opt.KEEP) fs.rmSync(workDir, { recursive: true, force: true }); }
})().catch((e) => { console.error(e); process.exit(1); });
