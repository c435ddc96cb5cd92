// The options of `converge serve`, in one table with the defaults (configDefaults): `serve --help` is written
// from both, so a default shown in the help is the default in force (a test checks every one).

import { configDefaults } from './config.js';

export interface ServeOption {
  /** The flag's name without dashes, which is also the key in a config file and CONVERGE_<NAME>. */
  readonly name: string;
  /** Placeholder of the value; none for a switch. */
  readonly arg?: string;
  readonly help: string;
  /** Shown as `(required)` instead of a default. */
  readonly required?: boolean;
  /** What the help says when there is no default value (`none`, `Node's CA list`). */
  readonly otherwise?: string;
}

export const serveOptions: readonly ServeOption[] = [
  { name: 'id', arg: 'id', help: "this node's id: 1-64 of A-Z a-z 0-9 _ . -", required: true },
  { name: 'listen', arg: 'host:port', help: 'address to listen on' },
  {
    name: 'data',
    arg: 'dir',
    help: 'data folder (lmdb), created if missing; one process per folder',
    required: true,
  },
  { name: 'peers', arg: 'list', help: 'the other replicas: ID=URL,ID=URL', otherwise: 'none' },
  {
    name: 'join',
    arg: 'url',
    help: "join a running cluster through this member's URL: the node takes its share of the ring",
    otherwise: 'none',
  },
  { name: 'replace', arg: 'id', help: 'with --join: take the place of this dead member', otherwise: 'none' },
  {
    name: 'advertise',
    arg: 'url',
    help: 'the base URL other members reach this node at',
    otherwise: 'the --listen address',
  },
  { name: 'ae-interval', arg: 'duration', help: 'anti-entropy interval, with a unit: 500ms, 2s, 10m' },
  { name: 'sync', arg: 'policy', help: 'always | group | none (see docs/operations.md)' },
  {
    name: 'engine',
    arg: 'name',
    help: 'storage engine: lmdb | memory (memory keeps nothing across a restart; for trials and tests)',
  },
  {
    name: 'ae-symbols',
    arg: 'n',
    help: 'coded symbols kept for one-round-trip discovery (16 bytes each; 0: off)',
  },
  {
    name: 'ae-partition-symbols',
    arg: 'n',
    help: 'coded symbols kept per partition, all partitions together, for scoped sessions (0: off)',
  },
  { name: 'leaf-bits', arg: 'n', help: 'digest leaves = 2^n (all replicas must agree)' },
  {
    name: 'partitions',
    arg: 'P',
    help: 'ring partitions: a power of two, at most 2^leaf-bits (every member the same)',
  },
  {
    name: 'replication-factor',
    arg: 'RF',
    help: 'replicas of each key, on RF of the members (every member the same)',
  },
  { name: 'key-bytes-max', arg: 'n', help: 'longest key in bytes' },
  { name: 'value-bytes-max', arg: 'size', help: 'largest value' },
  { name: 'body-bytes-max', arg: 'size', help: 'largest request body' },
  {
    name: 'request-timeout',
    arg: 'duration',
    help: 'bounds every request to a peer, connecting included (a coordinator waits this long for replicas)',
  },
  { name: 'storage-retry', arg: 'duration', help: 'after a failed storage write, refuse writes this long' },
  {
    name: 'storage-writes-in-flight',
    arg: 'n',
    help: 'storage batches written at once (the next commits while the previous one is flushed)',
  },
  {
    name: 'log-level',
    arg: 'level',
    help: 'fatal | error | warn | info | debug | trace | silent (JSON lines on stderr)',
  },
  {
    name: 'tombstone-grace',
    arg: 'duration',
    help: 'margin below the cluster watermark before tombstones are purged',
  },
  {
    name: 'max-clock-drift',
    arg: 'duration',
    help: 'refuse versions stamped further ahead of this clock; stop coordinating writes past it',
  },
  {
    name: 'replication-queue-records-max',
    arg: 'n',
    help: 'records queued or in flight to one peer; past it writes wait',
  },
  {
    name: 'replication-queue-bytes-max',
    arg: 'size',
    help: 'bytes queued or in flight to one peer; past it writes wait',
  },
  { name: 'replication-message-records-max', arg: 'n', help: 'records in one replication message' },
  { name: 'replication-message-bytes-max', arg: 'size', help: 'bytes in one replication message' },
  {
    name: 'replication-messages-in-flight',
    arg: 'n',
    help: 'replication messages out to one peer at once (the next accumulates meanwhile)',
  },
  {
    name: 'admission-wait-max',
    arg: 'duration',
    help: 'how long a write waits for queue room before 503 OVERLOADED (0: refuse at once)',
  },
  { name: 'batch-keys-max', arg: 'n', help: 'keys in one POST /kv batch' },
  { name: 'batch-bytes-max', arg: 'size', help: 'bytes of keys and values in one POST /kv batch' },
  { name: 'hints-per-peer-max', arg: 'n', help: 'hint store bound: hints per unreachable peer' },
  { name: 'hint-bytes-max', arg: 'size', help: 'hint store bound: bytes in all' },
  {
    name: 'hint-age-max',
    arg: 'duration',
    help: 'hints older than this are dropped (anti-entropy heals them)',
  },
  { name: 'ae-records-per-second', arg: 'n', help: 'repair throttle: records per second' },
  { name: 'ae-bytes-per-second', arg: 'size', help: 'repair throttle: bytes per second' },
  {
    name: 'ae-sessions-max',
    arg: 'n',
    help: 'anti-entropy sessions one node runs at once, begun by either side',
  },
  { name: 'ae-round-bytes-max', arg: 'size', help: 'bytes one reconciliation round carries each way' },
  {
    name: 'ae-round-busy-max',
    arg: 'duration',
    help: 'how long building one round, or answering one, may hold the event loop',
  },
  {
    name: 'ae-repair-batch-records-max',
    arg: 'n',
    help: 'records per repair fetch or push, i.e. per repair commit',
  },
  {
    name: 'ae-repair-batches-in-flight',
    arg: 'n',
    help: 'repair batches one session keeps in flight: the next is sent while the last commits',
  },
  {
    name: 'ae-stream-page-records-max',
    arg: 'n',
    help: "records per page of a join's streaming fast path (one commit each on the new owner); 0: off",
  },
  { name: 'ae-stream-page-bytes-max', arg: 'size', help: 'bytes per page of the streaming fast path' },
  {
    name: 'ae-stream-page-busy-max',
    arg: 'duration',
    help: 'how long a source may hold its event loop reading one streaming page',
  },
  {
    name: 'ae-stream-pages-in-flight',
    arg: 'n',
    help: 'pages one streaming session keeps in flight (its partitions split into as many chains)',
  },
  {
    name: 'ae-stream-records-per-second',
    arg: 'n',
    help: 'records per second the streaming fast path applies, all its sessions together',
  },
  { name: 'ae-adaptive', help: "pace repair by the event loop's load as well as the throttle" },
  {
    name: 'ae-loop-busy-target',
    arg: 'percent',
    help: 'adaptive repair rate: back off while the event loop is busier than this',
  },
  { name: 'ae-adapt-interval', arg: 'duration', help: 'adaptive repair rate: how often the load is read' },
  { name: 'ae-records-per-second-min', arg: 'n', help: 'adaptive repair rate: never slower than this' },
  {
    name: 'membership-cleanup-grace',
    arg: 'duration',
    help: 'membership change: how long old owners keep a moved partition before dropping it',
  },
  {
    name: 'membership-streaming-concurrency',
    arg: 'n',
    help: 'membership change: streaming sessions the driving node keeps running at once',
  },
  {
    name: 'membership-partitions-per-session',
    arg: 'n',
    help: 'membership change: partitions one streaming session covers at most',
  },
  { name: 'membership-tick', arg: 'duration', help: 'membership change: how often the driver plans again' },
  {
    name: 'membership-takeover-after',
    arg: 'duration',
    help: 'membership change: how long its driver is unreachable before another member takes it over',
  },
  { name: 'verify-interval', arg: 'duration', help: 'digest verification: pause between complete passes' },
  {
    name: 'verify-records-per-second',
    arg: 'n',
    help: 'digest verification: records read per second at most',
  },
  {
    name: 'verify-start-delay',
    arg: 'duration',
    help: 'digest verification: the first pass after a start waits at least this',
  },
  {
    name: 'tls-cert',
    arg: 'file',
    help: 'serve HTTPS with this certificate (PEM); peers are then https:// URLs',
    otherwise: 'none',
  },
  { name: 'tls-key', arg: 'file', help: 'the private key of --tls-cert (PEM)', otherwise: 'none' },
  {
    name: 'tls-ca',
    arg: 'file',
    help: "CA certificate (PEM) that peers' certificates must chain to",
    otherwise: "Node's CA list",
  },
  {
    name: 'client-tokens-file',
    arg: 'file',
    help: 'require bearer tokens on the public API: lines of read-only|read-write|operator TOKEN [NAME]',
    otherwise: 'none, the API is open',
  },
  {
    name: 'client-tokens-poll',
    arg: 'duration',
    help: 'how often the tokens file is checked for changes; SIGHUP reloads it at once',
  },
  {
    name: 'operator-action-warn-after',
    arg: 'duration',
    help: 'warn in the status when a pause or throttle has been in force longer than this',
  },
  { name: 'connections-max', arg: 'n', help: 'open connections at most; further ones are closed at once' },
  { name: 'headers-timeout', arg: 'duration', help: 'a client must send its request headers within this' },
  { name: 'receive-timeout', arg: 'duration', help: 'a client must send its whole request within this' },
  { name: 'idle-timeout', arg: 'duration', help: 'a connection with no traffic for this long is closed' },
  { name: 'keep-alive-timeout', arg: 'duration', help: 'an idle keep-alive connection is closed after this' },
  { name: 'hints', help: 'hinted handoff' },
  {
    name: 'bind-outgoing',
    help: 'connections to peers leave from the --listen IP when it is a specific address',
  },
  { name: 'read-repair', help: 'read repair' },
  {
    name: 'anti-entropy',
    help: 'anti-entropy sessions this node starts (its peers still start sessions with it and repair it)',
  },
  {
    name: 'ae-serve-worker',
    help: "the low-priority worker thread for repair's bulk work (off: that work runs on the event loop)",
  },
];

/** `(default: 10s)`, `(required)`, `(default: on)`: one format for every option. */
export function defaultNote(option: ServeOption): string {
  if (option.required) return '(required)';
  const value = configDefaults[option.name];
  if (typeof value === 'boolean') return `(default: ${value ? 'on' : 'off'})`;
  return `(default: ${value ?? option.otherwise ?? 'none'})`;
}

/**
 * The flag as commander takes it: `--ae-interval <duration>`; a switch that is on by default is turned off
 * with `--no-NAME`, one that is off is turned on with `--NAME`.
 */
export function flagOf(option: ServeOption): string {
  if (option.arg !== undefined) return `--${option.name} <${option.arg}>`;
  return configDefaults[option.name] === true ? `--no-${option.name}` : `--${option.name}`;
}

/** The help line: a switch that is on by default says what `--no-NAME` switches off. */
export function helpOf(option: ServeOption): string {
  const text =
    option.arg === undefined && configDefaults[option.name] === true
      ? `switch off ${option.help}`
      : option.help;
  return `${text} ${defaultNote(option)}`;
}
