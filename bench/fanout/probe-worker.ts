/** A probe on its own thread (see startProbe): runs until told to stop, then sends its latencies. */
import { parentPort, workerData } from 'node:worker_threads';
import { probeLoop, type ProbeSpec } from './measure.js';

const spec = workerData as ProbeSpec;
const probe = probeLoop(spec.url, spec.headers, spec.everyMs, spec.timeoutMs);
parentPort!.once('message', () => {
  void probe.stop().then((latencies) => parentPort!.postMessage(latencies));
});
parentPort!.postMessage('ready');
