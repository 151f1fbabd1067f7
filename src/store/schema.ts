/** Table types of the control plane's database (Kysely). */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** jsonb: read as parsed JSON, written as a JSON string. */
type Json = ColumnType<unknown, string, string>;
/** int8: read as a string by node-postgres (a number by PGlite), written as a number. */
type Int8 = ColumnType<string | number, number | undefined, number>;

export interface Database {
  audit: {
    seq: Int8;
    at: Date;
    actor: string;
    token_id: string | null;
    source: string | null;
    operation: string;
    args: Json;
    target: Json;
    result: string;
    prev_hash: string;
    hash: string;
  };
  audit_head: {
    id: number;
    seq: Int8;
    hash: string;
  };
  server_keys: {
    name: string;
    private_pem: string;
    public_pem: string;
    created_at: Timestamp;
  };
  users: {
    name: string;
    kind: 'person' | 'machine';
    created_at: Timestamp;
  };
  tokens: {
    hash: string;
    kind: 'admin' | 'join' | 'agent' | 'user';
    host_id: string | null;
    created_at: Timestamp;
    /** Public id of an admin or user token (null for join and agent tokens). */
    id: string | null;
    user_name: string | null;
    role: string | null;
    environment: string | null;
    service: string | null;
    expires_at: Date | null;
  };
  hosts: {
    id: string;
    name: string;
    region: string;
    labels: Json;
    created_at: Timestamp;
    last_seen_at: Date | null;
    report: ColumnType<unknown, string | null, string | null>;
    bytes_received: Json;
    goal_generation: Int8;
    relay: ColumnType<boolean, boolean | undefined, boolean>;
    /** Set to the database's `now()` by every write to the row (its default on insert). */
    changed_at: ColumnType<Date, never, Date>;
  };
  service_maps: {
    version: Generated<number>;
    document: Json;
    normalized: Json;
    applied_at: Timestamp;
  };
  chunks: {
    digest: string;
    size: number;
    created_at: Timestamp;
  };
  images: {
    id: string;
    service: string;
    manifest: string;
    size: Int8;
    files: number;
    chunks: number;
    created_at: Timestamp;
  };
  tags: {
    service: string;
    tag: string;
    image_id: string;
    updated_at: Timestamp;
  };
  releases: {
    service: string;
    version: number;
    image_id: string;
    environment: string;
    config: Json;
    created_at: Timestamp;
  };
  deployments: {
    id: string;
    service: string;
    environment: string;
    state: string;
    release: number;
    image_id: string;
    doc: Json;
    created_at: Timestamp;
    updated_at: Timestamp;
  };
  deployment_hosts: {
    deployment_id: string;
    ord: number;
    host_id: string;
    host_name: string;
    region: string;
    batch: number;
    previous: number | null;
    state: string;
    detail: string | null;
  };
  jobs: {
    id: string;
    created_at: Timestamp;
    created_by: string;
    spec: Json;
    skipped: Json;
    cancel_requested: Generated<boolean>;
    // int8: a string from node-postgres, read through Number().
    out_seq: Generated<number | string>;
  };
  job_runs: {
    job_id: string;
    host_id: string;
    host_name: string;
    region: string;
    state: string;
    exit_code: number | null;
    signal: string | null;
    detail: string | null;
    limits_by: string | null;
    started_at: Date | null;
    ended_at: Date | null;
    bytes_received: Json;
    output_bytes: Generated<number | string>;
    output_dropped: Generated<number | string>;
  };
  job_output: {
    job_id: string;
    seq: Int8;
    host_id: string;
    stream: string;
    text: string;
    at: Date;
  };
  goals: {
    host_id: string;
    service: string;
    stage_version: number | null;
    active_version: number | null;
    updated_at: Timestamp;
  };
  events: {
    id: ColumnType<string | number, never, never>;
    at: Timestamp;
    deployment_id: string | null;
    type: string;
    actor: ColumnType<string | null, string | null | undefined, string | null>;
    data: Json;
  };
}
