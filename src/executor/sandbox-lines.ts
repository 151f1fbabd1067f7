/** Cutting a job's output stream into lines of bounded size. */

const NEWLINE = 0x0a;

/**
 * Receives a stream's bytes in chunks and hands out whole lines (without `\n` or a trailing
 * `\r`), in order. A line longer than `maxBytes` is handed out in pieces of at most `maxBytes`
 * bytes, cut between UTF-8 characters; end() hands out a last line that has no `\n`.
 */
export class LineSplitter {
  private rest: Buffer = Buffer.alloc(0);

  constructor(
    private readonly maxBytes: number,
    private readonly emit: (line: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    for (;;) {
      const nl = buf.indexOf(NEWLINE);
      if (nl !== -1 && nl <= this.maxBytes) {
        this.hand(buf.subarray(0, nl));
        buf = buf.subarray(nl + 1);
      } else if (buf.length > this.maxBytes) {
        const cut = utf8Boundary(buf, this.maxBytes);
        this.hand(buf.subarray(0, cut));
        buf = buf.subarray(cut);
      } else {
        break;
      }
    }
    // A copy: the rest is at most maxBytes, and must not pin the whole chunk it came from.
    this.rest = Buffer.from(buf);
  }

  end(): void {
    if (this.rest.length > 0) this.hand(this.rest);
    this.rest = Buffer.alloc(0);
  }

  private hand(bytes: Buffer): void {
    const line = bytes.toString('utf8');
    this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}

/** The largest cut at or below `max` that does not split a UTF-8 character (max itself if none). */
function utf8Boundary(buf: Buffer, max: number): number {
  let cut = max;
  // 0b10xxxxxx is a continuation byte: the character started before it.
  while (cut > 0 && ((buf[cut] ?? 0) & 0xc0) === 0x80) cut--;
  return cut > 0 ? cut : max;
}
