/** Turning a service's run spec into an argv. */
import type { RunSpec } from '../core/index.js';

/** An argv array as is; a shell string (the user's explicit choice) runs under `/bin/sh -c`. */
export function argvOf(run: RunSpec): string[] {
  return 'argv' in run ? run.argv : ['/bin/sh', '-c', run.shell];
}
