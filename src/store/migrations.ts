/** Schema migrations, applied in order at start-up; the same over PGlite and PostgreSQL. */
import { sql, type Kysely, type Migration } from 'kysely';

/** Runs `;`-separated DDL one statement at a time (PGlite's extended protocol takes one). */
async function runStatements(db: Kysely<unknown>, ddl: string): Promise<void> {
  for (const statement of ddl.split(/;\s*\n/)) {
    if (statement.trim()) await sql.raw(statement).execute(db);
  }
}

export const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await runStatements(
        db,
        `
        create table tokens (
          hash text primary key,
          kind text not null check (kind in ('admin', 'join', 'agent')),
          host_id text,
          created_at timestamptz not null default now()
        );
        create table hosts (
          id text primary key,
          name text not null unique,
          region text not null,
          labels jsonb not null default '{}',
          created_at timestamptz not null default now(),
          last_seen_at timestamptz,
          report jsonb,
          bytes_received jsonb not null default '{}',
          goal_generation bigint not null default 0
        );
        create table service_maps (
          version serial primary key,
          document jsonb not null,
          normalized jsonb not null,
          applied_at timestamptz not null default now()
        );
        create table chunks (
          digest text primary key,
          size integer not null,
          created_at timestamptz not null default now()
        );
        create table images (
          id text primary key,
          service text not null,
          manifest text not null,
          size bigint not null,
          files integer not null,
          chunks integer not null,
          created_at timestamptz not null default now()
        );
        create index images_service on images (service, created_at desc);
        create table tags (
          service text not null,
          tag text not null,
          image_id text not null references images (id),
          updated_at timestamptz not null default now(),
          primary key (service, tag)
        );
        create table releases (
          service text not null,
          version integer not null,
          image_id text not null references images (id),
          environment text not null,
          config jsonb not null,
          created_at timestamptz not null default now(),
          primary key (service, version)
        );
        create table deployments (
          id text primary key,
          service text not null,
          environment text not null,
          state text not null,
          release integer not null,
          image_id text not null,
          doc jsonb not null,
          created_at timestamptz not null default now(),
          updated_at timestamptz not null default now()
        );
        create index deployments_state on deployments (state);
        create index deployments_created on deployments (created_at desc);
        create table goals (
          host_id text not null references hosts (id),
          service text not null,
          stage_version integer,
          active_version integer,
          updated_at timestamptz not null default now(),
          primary key (host_id, service)
        );
        create table events (
          id bigserial primary key,
          at timestamptz not null default now(),
          deployment_id text,
          type text not null,
          data jsonb not null
        );
        create index events_deployment on events (deployment_id, id);
      `,
      );
    },
  },
  '0002_server_keys': {
    async up(db: Kysely<unknown>) {
      // Key pairs of the control plane: e.g. the one that signs agents' peer tickets. In the
      // database rather than a file so that every server replica signs with the same key.
      await runStatements(
        db,
        `
        create table server_keys (
          name text primary key,
          private_pem text not null,
          public_pem text not null,
          created_at timestamptz not null default now()
        );
      `,
      );
    },
  },
  '0003_event_actor': {
    async up(db: Kysely<unknown>) {
      // Who caused each event (`user:admin`, `agent:<host>`, `system:orchestrator`): written in
      // the same transaction as the change, so the record of who did what cannot fall behind it.
      await runStatements(db, `alter table events add column actor text;`);
    },
  },
  '0004_host_relay': {
    async up(db: Kysely<unknown>) {
      // Whether the host is its region's relay: set by an operator (at enrollment or later),
      // never by what the agent reports, since peers send their chunk requests to the relay.
      await runStatements(db, `alter table hosts add column relay boolean not null default false;`);
    },
  },
  '0005_host_changed_at': {
    async up(db: Kysely<unknown>) {
      // When the row was last written, by the database's clock (so every server replica agrees):
      // lets a reader fetch only the hosts that changed since it last looked.
      await runStatements(
        db,
        `
        alter table hosts add column changed_at timestamptz not null default now();
        create index hosts_changed_at on hosts (changed_at);
      `,
      );
    },
  },
  '0006_users_and_grants': {
    async up(db: Kysely<unknown>) {
      // People and machine accounts, and tokens that each carry one grant (a role on a scope)
      // and may expire. A token's public id names it in lists and revocations; its secret is
      // kept as a hash only. The first-start admin token belongs to the built-in `admin` user.
      await runStatements(
        db,
        `
        create table users (
          name text primary key,
          kind text not null check (kind in ('person', 'machine')),
          created_at timestamptz not null default now()
        );
        insert into users (name, kind) values ('admin', 'person');
        alter table tokens drop constraint tokens_kind_check;
        alter table tokens add constraint tokens_kind_check
          check (kind in ('admin', 'join', 'agent', 'user'));
        alter table tokens add column id text unique;
        alter table tokens add column user_name text references users (name);
        alter table tokens add column role text;
        alter table tokens add column environment text;
        alter table tokens add column service text;
        alter table tokens add column expires_at timestamptz;
        update tokens set id = 'admin', user_name = 'admin' where kind = 'admin';
        create index tokens_user_name on tokens (user_name);
      `,
      );
    },
  },
  '0007_audit': {
    async up(db: Kysely<unknown>) {
      // The audit trail: appended only, each entry holding the SHA-256 of the one before
      // (audit-chain.ts). `audit_head` is the chain's last entry, locked by each append so that
      // replicas append one at a time, and read by verification to see a removed tail.
      await runStatements(
        db,
        `
        create table audit (
          seq bigint primary key,
          at timestamptz not null,
          actor text not null,
          token_id text,
          source text,
          operation text not null,
          args jsonb not null,
          target jsonb not null,
          result text not null,
          prev_hash text not null,
          hash text not null
        );
        create index audit_at on audit (at);
        create table audit_head (
          id integer primary key check (id = 1),
          seq bigint not null,
          hash text not null
        );
        insert into audit_head (id, seq, hash) values (1, 0, '${'0'.repeat(64)}');
      `,
      );
    },
  },
  '0008_deployment_hosts': {
    async up(db: Kysely<unknown>) {
      // A deployment's hosts in rows of their own: a step writes the hosts it moved, not a
      // document of every host (1 MB at 10,000 hosts, written twice a second while it runs).
      // `ord` keeps the order the deployment was planned in (batches, views).
      await runStatements(
        db,
        `
        create table deployment_hosts (
          deployment_id text not null references deployments (id) on delete cascade,
          ord integer not null,
          host_id text not null,
          host_name text not null,
          region text not null,
          batch integer not null,
          previous integer,
          state text not null,
          detail text,
          primary key (deployment_id, host_id)
        );
        create unique index deployment_hosts_ord on deployment_hosts (deployment_id, ord);
        insert into deployment_hosts
          (deployment_id, ord, host_id, host_name, region, batch, previous, state, detail)
          select d.id, (h.ord - 1)::integer, h.v->>'hostId', h.v->>'hostName', h.v->>'region',
                 (h.v->>'batch')::integer, (h.v->>'previous')::integer, h.v->>'state',
                 h.v->>'detail'
          from deployments d,
               jsonb_array_elements(d.doc->'hosts') with ordinality as h(v, ord);
        update deployments set doc = doc - 'hosts';
      `,
      );
    },
  },
  '0009_jobs': {
    async up(db: Kysely<unknown>) {
      // A job, one run per host it went to, and their output. Output lines are numbered per
      // job under the job row's lock (out_seq), so a reader following `seq > n` never skips a
      // line that a concurrent report commits late.
      await runStatements(
        db,
        `
        create table jobs (
          id text primary key,
          created_at timestamptz not null default now(),
          created_by text not null,
          spec jsonb not null,
          skipped jsonb not null default '[]',
          cancel_requested boolean not null default false,
          out_seq bigint not null default 0
        );
        create index jobs_created on jobs (created_at desc);
        create table job_runs (
          job_id text not null references jobs (id) on delete cascade,
          host_id text not null,
          host_name text not null,
          region text not null,
          state text not null,
          exit_code integer,
          signal text,
          detail text,
          limits_by text,
          started_at timestamptz,
          ended_at timestamptz,
          bytes_received jsonb not null default '{}',
          output_bytes bigint not null default 0,
          output_dropped bigint not null default 0,
          primary key (job_id, host_id)
        );
        create index job_runs_open on job_runs (host_id) where ended_at is null;
        create table job_output (
          job_id text not null references jobs (id) on delete cascade,
          seq bigint not null,
          host_id text not null,
          stream text not null,
          text text not null,
          at timestamptz not null,
          primary key (job_id, seq)
        );
        create index job_output_run on job_output (job_id, host_id, seq);
      `,
      );
    },
  },
};
