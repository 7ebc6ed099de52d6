'use strict';
// Reads the Hive-style dataset credreport wrote (DATASET/report_date=.../account_id=.../
// credential_report.csv) with DuckDB, as a query engine would, and prints what it sees as
// one JSON object: rows per partition, the partition values and a few typed columns.
//   node dataset-duckdb.js DATASET_FOLDER
const path = require('path');
const { createRequire } = require('module');
const { DuckDBInstance } = createRequire(path.join(__dirname, '..', '..', 'emulator', 'package.json'))('@duckdb/node-api');

async function main() {
  const folder = process.argv[2];
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  const glob = path.join(folder, 'report_date=*', 'account_id=*', 'credential_report.csv').replace(/'/g, "''");
  await con.run(`CREATE VIEW reports AS SELECT * FROM read_csv('${glob}', hive_partitioning = true,
    header = true, hive_types = {'report_date': DATE, 'account_id': VARCHAR},
    types = {'user_creation_time': 'TIMESTAMPTZ', 'mfa_active': 'BOOLEAN'})`);
  const rows = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
  const out = {
    total: (await rows('SELECT count(*) AS n FROM reports'))[0].n,
    partitions: await rows(`SELECT CAST(report_date AS VARCHAR) AS report_date, account_id, count(*) AS n,
      count(*) FILTER (WHERE "user" = '<root_account>') AS roots,
      count(*) FILTER (WHERE mfa_active) AS mfa,
      CAST(min(user_creation_time) AT TIME ZONE 'UTC' AS VARCHAR) AS first_created
      FROM reports GROUP BY ALL ORDER BY account_id`),
    types: await rows(`SELECT column_name, column_type FROM (DESCRIBE reports)
      WHERE column_name IN ('report_date', 'account_id', 'user_creation_time', 'mfa_active', 'password_last_used')`),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
