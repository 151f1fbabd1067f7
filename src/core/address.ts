/** `HOST:PORT` listen addresses as users write them (`127.0.0.1:7400`, `[::1]:7400`, `:7400`). */
import { SlipwayError } from './errors.js';

export function parseHostPort(text: string, where: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(text.trim());
  const port = Number(m?.[2]);
  if (!m || port > 65535) {
    throw new SlipwayError('INVALID', `${where} ${JSON.stringify(text)}: expected HOST:PORT`);
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port };
}
