'use strict';
// The driver scenario (../SCENARIO.md) run by the DataStax Node.js cassandra-driver.
//
//   node scenario.js <host> <port> <version> <compression> <keyspace>
//   node scenario.js <host> <port> <version>:<compression>:<keyspace> [...]
//
// The second form runs several configurations in one process and prefixes every key with
// `<keyspace>.`. Facts go to stdout as key=value lines; the driver's log goes to stderr.
//
// Beyond SCENARIO.md's keys this prints `replicas=<n>`: how many replicas the driver's own
// token map (what its token-aware load balancing uses) finds for k = 1.

const cassandra = require('cassandra-driver');

const { types } = cassandra;
const { Long } = types;

/** The row SCENARIO.md specifies for k = 1, as the driver's types. */
function everythingRow() {
  return {
    k: 1,
    asci: 'abc',
    big: Long.fromString('-9007199254740993'),
    blb: Buffer.from('00ff10', 'hex'),
    bool: true,
    dt: types.LocalDate.fromString('2024-02-29'),
    dec: types.BigDecimal.fromString('12345678901234567890.123456789'),
    dbl: 3.5,
    flt: -0.25,
    ip: types.InetAddress.fromString('::1'),
    i: -42,
    small: -300,
    tiny: 7,
    ts: new Date('2024-02-29T12:34:56.789Z'),
    tm: types.LocalTime.fromString('12:34:56.123456789'),
    tu: types.TimeUuid.fromString('e8a6dc40-2a4b-11ef-9c5c-0242ac120002'),
    txt: 'héllo ✓',
    u: types.Uuid.fromString('4a9a6c52-7ebf-4b0a-9d2b-1d9c1f0b2a11'),
    vint: types.Integer.fromString('123456789012345678901234567890'),
    dur: new types.Duration(1, 2, Long.fromInt(3)),
    lst: [3, 1, 2],
    st: ['a', 'b'],
    mp: { x: 1, y: 2 },
    tup: new types.Tuple(5, 'five'),
    address: { street: 'Main', zip: 12345 },
    nested: { n: [[1, 2], [3]] },
  };
}

/**
 * A text form of a value that keeps its type: a Long and a number that print alike, or an int
 * and a float, compare unequal.
 */
function canonical(value) {
  if (value === null || value === undefined) {
    return 'null';
  }
  if (Buffer.isBuffer(value)) {
    return `Buffer(${value.toString('hex')})`;
  }
  if (value instanceof Date) {
    return `Date(${value.toISOString()})`;
  }
  if (value instanceof types.Tuple) {
    return `Tuple(${value.elements.map(canonical).join(', ')})`;
  }
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(', ')}]`;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}: ${canonical(value[key])}`);
    return `{${entries.join(', ')}}`;
  }
  if (typeof value === 'object') {
    return `${value.constructor.name}(${value.toString()})`;
  }
  return `${typeof value}(${JSON.stringify(value)})`;
}

/**
 * Protocol v3 has no type ids for date, time, smallint and tinyint: Cassandra describes such
 * columns to a v3 client as custom types (org.apache.cassandra.db.marshal.SimpleDateType,
 * TimeType, ShortType, ByteType), for which the driver has no codec: binding a value fails
 * ("No encoding handler found for type ...") and reading one gives its bytes. In v3 these
 * columns are bound as bytes made by the driver's own codec for the type (the value format is the
 * same in every version), and the bytes read back are decoded by it.
 */
const V3_CUSTOM = {
  dt: types.dataTypes.date,
  small: types.dataTypes.smallint,
  tiny: types.dataTypes.tinyint,
  tm: types.dataTypes.time,
};
const NATIVE_CODECS = new cassandra.Encoder(types.protocolVersion.v4, {});

class StepError extends Error {
  constructor(step, cause) {
    super(`${step}: ${cause && cause.message ? cause.message : cause}`);
    this.step = step;
  }
}

/** Runs `body` as the scenario step `step`: a failure names the step. */
async function step(step, body) {
  try {
    return await body();
  } catch (e) {
    if (e instanceof StepError) {
      throw e;
    }
    throw new StepError(step, e);
  }
}

const EVERYTHING = `CREATE TABLE everything (
  k int PRIMARY KEY,
  asci ascii, big bigint, blb blob, bool boolean, dt date, dec decimal, dbl double,
  flt float, ip inet, i int, small smallint, tiny tinyint, ts timestamp, tm time,
  tu timeuuid, txt text, u uuid, vint varint, dur duration,
  lst list<int>, st set<text>, mp map<text, int>, tup tuple<int, text>,
  address frozen<addr>,
  nested map<text, frozen<list<frozen<set<int>>>>>
)`;

/** One configuration of the scenario; `say(key, value)` prints a fact. */
async function scenario(host, port, version, compression, keyspace, say) {
  const warnings = [];
  if (compression !== 'none') {
    // The driver has no frame compression at all (its STARTUP never offers COMPRESSION).
    throw new StepError('connect', `the driver has no ${compression} compression`);
  }
  const client = await step(
    'connect',
    () =>
      new cassandra.Client({
        contactPoints: [host],
        localDataCenter: 'dc1',
        // The driver's default, LOCAL_ONE, may read from a replica a write has not reached.
        queryOptions: { consistency: types.consistencies.localQuorum },
        protocolOptions: { port, maxVersion: version },
        socketOptions: { connectTimeout: 20000, readTimeout: 30000 },
      }),
  );
  client.on('log', (level, className, message) => {
    if (level === 'warning' || level === 'error') {
      warnings.push(`${className}: ${message}`.replace(/[\r\n;]+/g, ' '));
    }
    if (level !== 'verbose') {
      process.stderr.write(`[${keyspace}] ${level} ${className}: ${message}\n`);
    }
  });
  try {
    await step('connect', () => client.connect());
    say('protocol', client.controlConnection.protocolVersion);
    say('compression', compression);

    await step('schema', async () => {
      const ddl = [
        `DROP KEYSPACE IF EXISTS ${keyspace}`,
        `CREATE KEYSPACE ${keyspace} WITH replication = ` +
          `{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}`,
        `CREATE TYPE ${keyspace}.addr (street text, zip int)`,
        EVERYTHING.replace('TABLE everything', `TABLE ${keyspace}.everything`),
        `CREATE TABLE ${keyspace}.counts (k int PRIMARY KEY, c counter)`,
        `CREATE TABLE ${keyspace}.paged (p int, c int, v text, PRIMARY KEY (p, c))`,
      ];
      let agreed = true;
      for (const statement of ddl) {
        const started = Date.now();
        const rs = await client.execute(statement).catch((e) => {
          const what = statement.split(/[\s(]+/).slice(0, 3).join(' ');
          throw new Error(`${what} (after ${Date.now() - started} ms): ${e.message}`);
        });
        // The driver waits for agreement after every schema change and records the outcome.
        agreed = agreed && rs.info.isSchemaInAgreement;
      }
      agreed = agreed && (await client.metadata.checkSchemaAgreement());
      say('schema_agreed', agreed);
    });

    await step('use', async () => {
      await client.execute(`USE ${keyspace}`);
      if (client.keyspace !== keyspace) {
        throw new Error(`the driver's keyspace is ${client.keyspace}`);
      }
      say('use', 'ok');
    });

    await step('types', async () => {
      const row = everythingRow();
      const columns = Object.keys(row);
      const sent = { ...row };
      const rawColumns = version === 3 ? Object.keys(V3_CUSTOM) : [];
      for (const c of rawColumns) {
        // Bytes pass through the driver's encoder untouched.
        sent[c] = NATIVE_CODECS.encode(row[c], V3_CUSTOM[c]);
      }
      await client.execute(
        `INSERT INTO everything (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        columns.map((c) => sent[c]),
        { prepare: true },
      );
      const rs = await client.execute(
        `SELECT ${columns.join(', ')} FROM everything WHERE k = ?`,
        [1],
        { prepare: true },
      );
      const got = rs.first();
      if (!got) {
        throw new Error('no row for k = 1');
      }
      for (const c of rawColumns) {
        got[c] = Buffer.isBuffer(got[c]) ? NATIVE_CODECS.decode(got[c], { code: V3_CUSTOM[c] }) : got[c];
      }
      if (rawColumns.length > 0) {
        say('types_as_bytes', rawColumns.join(','));
      }
      const mismatch = columns.find((c) => canonical(row[c]) !== canonical(got[c]));
      say(
        'types',
        mismatch === undefined
          ? 'ok'
          : `${mismatch}: sent ${canonical(row[mismatch])} got ${canonical(got[mismatch])}`,
      );
    });

    await step('nulls', async () => {
      await client.execute('INSERT INTO everything (k) VALUES (?)', [2], { prepare: true });
      const rs = await client.execute('SELECT * FROM everything WHERE k = ?', [2], {
        prepare: true,
      });
      const got = rs.first();
      if (!got) {
        throw new Error('no row for k = 2');
      }
      const columns = rs.columns.map((c) => c.name);
      const set = columns.filter((c) => c !== 'k' && got[c] !== null && got[c] !== undefined);
      if (columns.length !== Object.keys(everythingRow()).length) {
        say('nulls', `the row has ${columns.length} columns: ${columns.join(',')}`);
      } else {
        say('nulls', set.length === 0 ? 'ok' : set.map((c) => `${c}: ${canonical(got[c])}`).join(', '));
      }
    });

    await step('batch', async () => {
      // The driver's batch() sends either only prepared statements ({prepare: true}) or only
      // simple ones: the fourth, literal insert is prepared too, without bound values.
      const insert = 'INSERT INTO everything (k, txt) VALUES (?, ?)';
      await client.batch(
        [
          { query: insert, params: [10, 'b10'] },
          { query: insert, params: [11, 'b11'] },
          { query: insert, params: [12, 'b12'] },
          { query: "INSERT INTO everything (k, txt) VALUES (13, 'b13')" },
        ],
        { prepare: true, logged: true },
      );
      const rs = await client.execute('SELECT count(*) FROM everything WHERE k IN (10, 11, 12, 13)');
      say('batch', rs.first().count.toString());
    });

    await step('paging', async () => {
      const params = [];
      for (let p = 0; p < 10; p++) {
        for (let c = 0; c < 100; c++) {
          params.push([p, c, `v${p}.${c}`]);
        }
      }
      await cassandra.concurrent.executeConcurrent(
        client,
        'INSERT INTO paged (p, c, v) VALUES (?, ?, ?)',
        params,
        { concurrencyLevel: 32, raiseOnFirstError: true },
      );
      let rows = 0;
      let pages = 0;
      const seen = new Set();
      let pageState;
      do {
        const rs = await client.execute('SELECT p, c FROM paged', [], {
          fetchSize: 100,
          pageState,
          autoPage: false,
        });
        pages += 1;
        rows += rs.rows.length;
        for (const r of rs.rows) {
          seen.add(`${r.p}/${r.c}`);
        }
        pageState = rs.pageState;
        if (pages > 1000) {
          throw new Error('more than 1000 pages');
        }
      } while (pageState);
      say('paged_rows', rows);
      say('paged_distinct', seen.size);
      say('paged_pages', pages);
    });

    await step('lwt', async () => {
      const lwt = "INSERT INTO everything (k, txt) VALUES (?, 'a') IF NOT EXISTS";
      const first = await client.execute(lwt, [100], { prepare: true });
      say('lwt_first', first.wasApplied());
      const second = await client.execute(lwt, [100], { prepare: true });
      say('lwt_second', second.wasApplied());
    });

    await step('counter', async () => {
      await client.execute('UPDATE counts SET c = c + 5 WHERE k = 1');
      await client.execute('UPDATE counts SET c = c + 7 WHERE k = 1');
      const rs = await client.execute('SELECT c FROM counts WHERE k = 1');
      say('counter', rs.first().c.toString());
    });

    await step('invalid', async () => {
      try {
        await client.execute('SELECT nope FROM everything');
        say('invalid', 'no error');
      } catch (e) {
        const invalid =
          e instanceof cassandra.errors.ResponseError && e.code === types.responseErrorCodes.invalid;
        say('invalid', invalid ? 'invalid' : `${e.name} ${e.code}: ${e.message}`);
      }
    });

    await step('local', async () => {
      const rs = await client.execute('SELECT rpc_address, rpc_port FROM system.local');
      const row = rs.first();
      say('local', `${row.rpc_address}:${row.rpc_port}`);
    });

    await step('hosts', async () => {
      say('hosts', client.hosts.length);
    });

    await step('replicas', async () => {
      // Keyspace metadata normally follows schema events; read it now rather than wait.
      await client.metadata.refreshKeyspace(keyspace);
      const key = Buffer.alloc(4);
      key.writeInt32BE(1);
      const replicas = client.getReplicas(keyspace, key);
      say(
        'replicas',
        replicas ? `${replicas.length}` : 'none (the driver has no token map for the keyspace)',
      );
    });
  } finally {
    // Taken before shutting down: a metadata refresh that schema events (any client's DDL on the
    // cluster) started fails when the client closes under it, and logs that as an error.
    const logged = warnings.slice();
    await client.shutdown().catch(() => {});
    say('warnings', logged.length === 0 ? 'none' : logged.join(';'));
  }
}

function parseConfigs(args) {
  const [host, portText, ...rest] = args;
  const port = Number(portText);
  if (!host || !Number.isInteger(port)) {
    return null;
  }
  const configs = [];
  if (rest.length === 3 && !rest[0].includes(':')) {
    configs.push({ version: rest[0], compression: rest[1], keyspace: rest[2], prefix: '' });
  } else if (rest.length > 0 && rest.every((r) => r.split(':').length === 3)) {
    for (const triple of rest) {
      const [version, compression, keyspace] = triple.split(':');
      configs.push({ version, compression, keyspace, prefix: `${keyspace}.` });
    }
  } else {
    return null;
  }
  for (const c of configs) {
    c.version = Number(c.version);
    if (![3, 4, 5].includes(c.version) || !/^[a-z][a-z0-9_]*$/.test(c.keyspace)) {
      return null;
    }
  }
  return { host, port, configs };
}

async function main() {
  const parsed = parseConfigs(process.argv.slice(2));
  if (!parsed) {
    process.stderr.write(
      'usage: scenario.js <host> <port> <3|4|5> <none|lz4|snappy> <keyspace>\n' +
        '       scenario.js <host> <port> <version>:<compression>:<keyspace> ...\n',
    );
    return 2;
  }
  let status = 0;
  for (const c of parsed.configs) {
    const say = (key, value) => process.stdout.write(`${c.prefix}${key}=${value}\n`);
    try {
      await scenario(parsed.host, parsed.port, c.version, c.compression, c.keyspace, say);
    } catch (e) {
      const message = (e instanceof StepError ? e.message : `scenario: ${e && e.message}`).replace(
        /[\r\n]+/g,
        ' ',
      );
      say('error', message);
      status = 1;
    }
  }
  return status;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (e) => {
    process.stdout.write(`error=scenario: ${e && e.stack}\n`);
    process.exitCode = 1;
  },
);
