/** `supervisor`: the service process, kept running until the activation stops. */
import { Supervisor, describeExit } from '../../executor/index.js';
import { pidFileAbout } from '../leftover-process.js';
import type { ActivationHook } from './hook.js';

/**
 * Starts `ctx.run` in `ctx.dir` with `ctx.env` (or takes over `ctx.adopt`, the process an earlier
 * agent left running), restarting it when it dies; its pid goes into the reported status, and
 * into the pid file with the release and port, for a later agent to take it over. Stopping
 * stops its whole process group.
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
        about: pidFileAbout(ctx.release, ctx.port),
        onEvent: (e) => {
          if (e.type === 'started') {
            status.pid = e.pid;
            if (e.adopted)
              ctx.log(`${service} v${version}: took over the running process ${e.pid}`);
          } else ctx.log(`${service} v${version}: process ${describeExit(e)}`);
          ctx.changed();
        },
      });
      ctx.process = supervisor;
      if (ctx.adopt) supervisor.adopt({ ...ctx.adopt, about: {} });
      else supervisor.start();
    },
    async stop() {
      await supervisor?.stop();
      supervisor = null;
    },
    leave() {
      supervisor?.leave();
      supervisor = null;
    },
  };
}
