/** The report window each goal answer names (see core/report-spread.ts), from answers counted. */
import { REPORTS_PER_SECOND, reportSpreadMs } from '../../core/index.js';

const WINDOW_MS = 1_000;

export class ReportSpread {
  private bucket = 0;
  private current = 0;
  private previous = 0;

  constructor(
    private readonly perSecond: number = REPORTS_PER_SECOND,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Counts one goal answer; answers the window its agent reports within. */
  answer(): number {
    const bucket = Math.floor(this.now() / WINDOW_MS);
    if (bucket !== this.bucket) {
      this.previous = bucket === this.bucket + 1 ? this.current : 0;
      this.current = 0;
      this.bucket = bucket;
    }
    this.current++;
    // Between one and two windows' worth: enough to see a burst as it builds.
    return reportSpreadMs(this.current + this.previous, this.perSecond);
  }
}
