/** Jobs, their runs on hosts, and their output (bounded per run: the tail is kept). */
import { sql } from 'kysely';
import { JOB_RUN_ENDS, type JobRunState } from '../../core/index.js';
import { byId, dbNow, inBatches, ROWS_PER_STATEMENT, type Db } from '../db.js';
import type { JobRepository, JobRunReport, NewJob } from '../repositories.js';
import { toJobRun, toJobSpec, type JobLineRow, type JobRow, type OpenJobRun } from '../job-rows.js';

export class KyselyJobs implements JobRepository {
  constructor(private readonly db: Db) {}

  async add(job: NewJob): Promise<void> {
    await this.db
      .insertInto('jobs')
      .values({
        id: job.id,
        created_by: job.createdBy,
        spec: JSON.stringify(job.spec),
        skipped: JSON.stringify(job.skipped),
      })
      .execute();
    for (const batch of inBatches(job.hosts)) {
      await this.db
        .insertInto('job_runs')
        .values(
          batch.map((h) => ({
            job_id: job.id,
            host_id: h.id,
            host_name: h.name,
            region: h.region,
            state: 'assigned',
            bytes_received: '{}',
          })),
        )
        .execute();
    }
    await this.bumpGenerations(job.hosts.map((h) => h.id));
  }

  async get(id: string): Promise<JobRow | undefined> {
    return (await this.withRuns([id]))[0];
  }

  async list(limit: number): Promise<JobRow[]> {
    const ids = await this.db
      .selectFrom('jobs')
      .select('id')
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute();
    return this.withRuns(ids.map((r) => r.id));
  }

  /** These jobs with their runs (by host name), in the order of `ids`: two statements. */
  private async withRuns(ids: string[]): Promise<JobRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.selectFrom('jobs').selectAll().where('id', 'in', ids).execute();
    const runs = await this.db
      .selectFrom('job_runs')
      .selectAll()
      .where('job_id', 'in', ids)
      .orderBy('host_name')
      .execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      if (!row) return [];
      return [
        {
          id: row.id,
          createdAt: row.created_at,
          createdBy: row.created_by,
          spec: toJobSpec(row.spec, row.id),
          skipped: (row.skipped as string[]) ?? [],
          cancelRequested: row.cancel_requested,
          runs: runs.filter((r) => r.job_id === id).map(toJobRun),
        },
      ];
    });
  }

  async idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .select('id')
      .where('id', 'like', `${prefix.replace(/[\\%_]/g, '\\$&')}%`)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  async openOnHosts(hostIds: readonly string[]): Promise<OpenJobRun[]> {
    if (hostIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('job_runs as r')
      .innerJoin('jobs as j', 'j.id', 'r.job_id')
      .select(['r.job_id', 'r.host_id', 'r.state', 'j.spec', 'j.cancel_requested'])
      .where('r.ended_at', 'is', null)
      .where(sql<boolean>`r.host_id = any(${[...hostIds]}::text[])`)
      .orderBy('j.created_at')
      .execute();
    return rows.map((r) => ({
      jobId: r.job_id,
      hostId: r.host_id,
      state: r.state as JobRunState,
      spec: toJobSpec(r.spec, r.job_id),
      cancelRequested: r.cancel_requested,
    }));
  }

  async busy(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('job_runs')
      .select(['host_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('ended_at', 'is', null)
      .groupBy('host_id')
      .execute();
    return new Map(rows.map((r) => [r.host_id, Number(r.n)]));
  }

  async report(
    jobId: string,
    hostId: string,
    r: JobRunReport,
  ): Promise<'ended' | 'started' | 'open' | 'gone'> {
    const run = await this.db
      .selectFrom('job_runs')
      .select(['state', 'ended_at', 'started_at'])
      .where('job_id', '=', jobId)
      .where('host_id', '=', hostId)
      .executeTakeFirst();
    if (!run || run.ended_at !== null) return 'gone';
    const ends = JOB_RUN_ENDS.has(r.state);
    await this.db
      .updateTable('job_runs')
      .set({
        state: r.state,
        exit_code: r.exitCode,
        signal: r.signal,
        detail: r.detail,
        limits_by: r.limitsBy,
        bytes_received: JSON.stringify(r.bytesReceived),
        ...(run.started_at === null && r.startedAt !== null && { started_at: r.startedAt }),
        ...(ends && { ended_at: endOf(r) ?? dbNow }),
      })
      .where('job_id', '=', jobId)
      .where('host_id', '=', hostId)
      .execute();
    if (r.lines.length > 0) await this.append(jobId, hostId, r.lines);
    // A run that ended leaves its host's goal; one that started is named as started in it.
    const started = run.started_at === null && r.state === 'running' && !ends;
    if (ends || started) await this.bumpGenerations([hostId]);
    return ends ? 'ended' : started ? 'started' : 'open';
  }

  async requestCancel(jobId: string): Promise<string[]> {
    await this.db
      .updateTable('jobs')
      .set({ cancel_requested: true })
      .where('id', '=', jobId)
      .execute();
    const open = await this.db
      .selectFrom('job_runs')
      .select('host_id')
      .where('job_id', '=', jobId)
      .where('ended_at', 'is', null)
      .execute();
    // A run its host has not taken up yet ends here; the others end when their hosts say so.
    await this.db
      .updateTable('job_runs')
      .set({ state: 'cancelled', ended_at: dbNow, detail: 'cancelled before it started' })
      .where('job_id', '=', jobId)
      .where('state', '=', 'assigned')
      .where('ended_at', 'is', null)
      .execute();
    const hosts = open.map((r) => r.host_id);
    await this.bumpGenerations(hosts);
    return hosts;
  }

  async endRunsOfHost(hostId: string, state: JobRunState, detail: string): Promise<void> {
    await this.db
      .updateTable('job_runs')
      .set({ state, detail, ended_at: dbNow })
      .where('host_id', '=', hostId)
      .where('ended_at', 'is', null)
      .execute();
  }

  async endOverdue(
    takeUpMs: number,
    graceMs: number,
  ): Promise<{ jobId: string; hostId: string }[]> {
    const rows = await sql<{ job_id: string; host_id: string }>`
      update job_runs r
      set state = 'lost', ended_at = now(),
          detail = case when r.state = 'assigned'
            then 'the host did not take the job up (offline, or its agent runs no jobs)'
            else 'the host did not say how the job ended (it went away while the job ran)' end
      from jobs j
      where r.job_id = j.id and r.ended_at is null
        and ((r.state = 'assigned'
              and j.created_at < now() - make_interval(secs => ${takeUpMs / 1000}))
          or (r.state in ('fetching', 'running')
              and coalesce(r.started_at, j.created_at) < now() - make_interval(secs =>
                ((j.spec->'limits'->>'timeoutMs')::bigint + ${graceMs}) / 1000.0)))
      returning r.job_id, r.host_id`.execute(this.db);
    const ended = rows.rows.map((r) => ({ jobId: r.job_id, hostId: r.host_id }));
    await this.bumpGenerations(ended.map((r) => r.hostId));
    return ended;
  }

  async removeEndedBefore(before: Date): Promise<number> {
    const rows = await sql<{ id: string }>`
      delete from jobs j
      where j.created_at < ${before}
        and not exists (select 1 from job_runs r where r.job_id = j.id and r.ended_at is null)
      returning j.id`.execute(this.db);
    return rows.rows.length;
  }

  async output(
    jobId: string,
    after: number,
    limit: number,
    hostId?: string,
  ): Promise<JobLineRow[]> {
    let q = this.db
      .selectFrom('job_output')
      .select(['seq', 'host_id', 'stream', 'text', 'at'])
      .where('job_id', '=', jobId)
      .where('seq', '>', after);
    if (hostId !== undefined) q = q.where('host_id', '=', hostId);
    const rows = await q.orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      hostId: r.host_id,
      stream: r.stream === 'stderr' ? 'stderr' : 'stdout',
      text: r.text,
      at: r.at,
    }));
  }

  /**
   * Appends a run's lines, numbered under the job row's lock (which orders this job's appends:
   * see the migration), then drops the run's oldest past the job's output limit.
   */
  private async append(jobId: string, hostId: string, lines: JobRunReport['lines']): Promise<void> {
    const job = await this.db
      .updateTable('jobs')
      .set({ out_seq: sql<number>`out_seq + ${lines.length}` })
      .where('id', '=', jobId)
      .returning(['out_seq', 'spec'])
      .executeTakeFirstOrThrow();
    const first = Number(job.out_seq) - lines.length + 1;
    for (const [i, batch] of inBatches(lines).entries()) {
      const base = first + i * ROWS_PER_STATEMENT;
      await this.db
        .insertInto('job_output')
        .values(
          batch.map((l, k) => ({
            job_id: jobId,
            seq: base + k,
            host_id: hostId,
            stream: l.stream,
            text: l.text,
            at: l.at,
          })),
        )
        .execute();
    }
    const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0);
    const run = await this.db
      .updateTable('job_runs')
      .set({ output_bytes: sql<number>`output_bytes + ${bytes}` })
      .where('job_id', '=', jobId)
      .where('host_id', '=', hostId)
      .returning('output_bytes')
      .executeTakeFirstOrThrow();
    const limit = toJobSpec(job.spec, jobId).outputLimitBytes;
    if (Number(run.output_bytes) > limit) await this.trim(jobId, hostId, limit);
  }

  /** Drops the run's oldest lines until it holds at most `limit` bytes of output. */
  private async trim(jobId: string, hostId: string, limit: number): Promise<void> {
    const dropped = await sql<{ bytes: number | string | null }>`
      with newest as (
        select seq, sum(octet_length(text) + 1) over (order by seq desc) as kept
        from job_output where job_id = ${jobId} and host_id = ${hostId}
      ), gone as (
        delete from job_output o using newest n
        where o.job_id = ${jobId} and o.seq = n.seq and n.kept > ${limit}
        returning octet_length(o.text) + 1 as size
      )
      select sum(size) as bytes from gone`.execute(this.db);
    const bytes = Number(dropped.rows[0]?.bytes ?? 0);
    await this.db
      .updateTable('job_runs')
      .set({
        output_bytes: sql<number>`output_bytes - ${bytes}`,
        output_dropped: sql<number>`output_dropped + ${bytes}`,
      })
      .where('job_id', '=', jobId)
      .where('host_id', '=', hostId)
      .execute();
  }

  private async bumpGenerations(hostIds: string[]): Promise<void> {
    for (const batch of inBatches([...new Set(hostIds)].sort(byId))) {
      await this.db
        .updateTable('hosts')
        .set({ goal_generation: sql<number>`goal_generation + 1` })
        .where(sql<boolean>`id = any(${batch}::text[])`)
        .execute();
    }
  }
}

/** When a run ended by its host's clock: its start plus how long it ran. */
function endOf(r: JobRunReport): Date | null {
  return r.startedAt && r.durationMs !== null
    ? new Date(r.startedAt.getTime() + r.durationMs)
    : null;
}
