/** `supervisor`: the service process, kept running until the activation stops. */
import { Supervisor, describeExit } from '../../executor/index.js';
import type { ActivationHook } from './hook.js';

/**
 * Starts `ctx.run` in `ctx.dir` with `ctx.env`, restarting it when it dies; its pid goes into
 * the reported status. Stopping stops its whole process group.
 */
export function supervisorHook(): ActivationHook {
  let supervisor: Supervisor | null = null;
  return {
    name: 'supervisor',
    start(ctx) {
      const { service, layout, status } = ctx;
      const version = ctx.release.version;
      supervisor = new Supervisor({
        run: ctx.run,
        cwd: ctx.dir,
        env: ctx.env,
        logDir: layout.logs(service),
        pidFile: layout.pidFile(service),
        onEvent: (e) => {
          if (e.type === 'started') status.pid = e.pid;
          else ctx.log(`${service} v${version}: process ${describeExit(e)}`);
          ctx.changed();
        },
      });
      ctx.process = supervisor;
      supervisor.start();
    },
    async stop() {
      await supervisor?.stop();
      supervisor = null;
    },
  };
}
