// Copied unchanged from the team's peers harness (peers/node/graph_peers.js), so that the graph peers run from a clone.
// Graph peers: Kuzu and DuckDB, 2-hop distinct neighbourhood counts.
// usage: node graph_peers.js kuzu|duckdb PREPDIR [Q=1000] [K=2] [TMP=/tmp]
//   PREPDIR is the output of graph_prep (edges.csv, nodes.csv, starts.tsv with reference counts).
// Count definition (same as graph_peers.c): distinct nodes reachable in 1..K hops along stored
// (out-)edges, the start itself excluded. Every answer is checked against starts.tsv: "mismatches".
// Prints one JSON line per query form: bulk load seconds, queries/s (one query at a time).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const C = require('./common');

const [peer, prep, ...rest] = process.argv.slice(2);
if (!prep) { console.error('usage: node graph_peers.js kuzu|duckdb PREPDIR [Q=1000] [K=2]'); process.exit(1); }
const opt = Object.fromEntries(rest.map((kv) => kv.split('=')));
const K = +(opt.K || 2);
const starts = fs.readFileSync(path.join(prep, 'starts.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t').map(Number));
const Q = Math.min(+(opt.Q || 1000), starts.length);
const edges = path.resolve(prep, 'edges.csv'), nodes = path.resolve(prep, 'nodes.csv');
const nEdges = fs.readFileSync(edges, 'utf8').split('\n').filter(Boolean).length;
const workDir = fs.mkdtempSync(path.join(opt.TMP || os.tmpdir(), `peer-${peer}-`));
const common = { graph: path.basename(path.resolve(prep)), edges: nEdges, k: K, queries: Q };

async function measure(label, extra, query) {
  // one warm pass first (checks every answer), then timed passes until >= 0.5 s
  let mism = 0, tot = 0;
  for (let i = 0; i < Q; i++) { const c = await query(starts[i][0]); tot += c; if (c !== starts[i][1]) mism++; }
  let reps = 0; const t = C.now(); let el;
  do { for (let i = 0; i < Q; i++) await query(starts[i][0]); reps++; el = C.now() - t; } while (el < 0.5 && reps < 1000);
  C.emit({ ...extra, ...common, query: label, qps: +((Q * reps) / el).toFixed(1), mean_reached: +(tot / Q).toFixed(1),
    mismatches: mism, peak_rss_mb: C.rssMb() });
}

async function kuzuPeer() {
  const kuzu = require('kuzu');
  const db = new kuzu.Database(path.join(workDir, 'kuzu.db'));
  const conn = new kuzu.Connection(db, 1); // max 1 thread per query
  const base = { peer: 'kuzu', version: kuzu.VERSION, threads: 1 };
  const t0 = C.now();
  await conn.query('CREATE NODE TABLE N(id INT64, PRIMARY KEY(id))');
  await conn.query('CREATE REL TABLE E(FROM N TO N)');
  await conn.query(`COPY N FROM '${nodes}' (header=false)`);
  await conn.query(`COPY E FROM '${edges}' (header=false)`);
  base.load_s = +(C.now() - t0).toFixed(3);
  const count = async (ps, s) => { const r = await conn.execute(ps, { s }); const rows = await r.getAll(); return rows.length ? Number(Object.values(rows[0])[0]) : 0; };
  const walk = await conn.prepare(`MATCH (a:N {id: $s})-[:E*1..${K}]->(b:N) WHERE b.id <> $s RETURN count(DISTINCT b.id)`);
  await measure(`MATCH (a:N {id:$s})-[:E*1..${K}]->(b) WHERE b.id<>$s RETURN count(DISTINCT b)`, base, (s) => count(walk, s));
  const sp = await conn.prepare(`MATCH (a:N {id: $s})-[:E* SHORTEST 1..${K}]->(b:N) WHERE b.id <> $s RETURN count(DISTINCT b.id)`);
  await measure(`MATCH (a:N {id:$s})-[:E* SHORTEST 1..${K}]->(b) WHERE b.id<>$s RETURN count(DISTINCT b)`, base, (s) => count(sp, s));
}

async function duckdbPeer() {
  const { DuckDBInstance, version } = require('@duckdb/node-api');
  if (K !== 2) throw new Error('duckdb peer implements K=2 (join form) only');
  const inst = await DuckDBInstance.create(path.join(workDir, 'duck.db'), { threads: '1' });
  const conn = await inst.connect();
  const base = { peer: 'duckdb', version: typeof version === 'function' ? version() : C.pkgVersion('@duckdb/node-api'), threads: 1 };
  const t0 = C.now();
  await conn.run(`CREATE TABLE e AS SELECT * FROM read_csv('${edges}', header=false, columns={'src':'BIGINT','dst':'BIGINT'}) ORDER BY src, dst`);
  await conn.run('CHECKPOINT');
  base.load_s = +(C.now() - t0).toFixed(3);
  const sql = `SELECT count(*) AS c FROM (SELECT dst AS b FROM e WHERE src = $s UNION
      SELECT e2.dst FROM e e1 JOIN e e2 ON e2.src = e1.dst WHERE e1.src = $s) WHERE b <> $s`;
  const ps = await conn.prepare(sql);
  await measure('join: 1-hop UNION 2-hop (distinct), start excluded', base, async (s) => {
    ps.bind({ s: BigInt(s) });
    const r = await ps.runAndReadAll(); return Number(r.getRows()[0][0]); });
  // the same with an ART index on e(src)
  const t1 = C.now(); await conn.run('CREATE INDEX e_src ON e(src)'); const ix = +(C.now() - t1).toFixed(3);
  const ps2 = await conn.prepare(sql);
  await measure('same join, with ART index on e(src)', { ...base, index_s: ix }, async (s) => {
    ps2.bind({ s: BigInt(s) });
    const r = await ps2.runAndReadAll(); return Number(r.getRows()[0][0]); });
}

(async () => {
  try {
    if (peer === 'kuzu') await kuzuPeer();
    else if (peer === 'duckdb') await duckdbPeer();
    else throw new Error('unknown peer ' + peer);
  } finally { if (!opt.KEEP) fs.rmSync(workDir, { recursive: true, force: true }); }
})().catch((e) => { console.error(e); process.exit(1); });
