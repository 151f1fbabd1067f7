/** The agent's own credential, issued by the server at enrollment and kept in the data dir. */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writePrivateFile } from './private-files.js';

const credentials = z.object({
  server: z.string(),
  hostId: z.string(),
  token: z.string(),
  name: z.string(),
});
/** The credential of this host, for the server that issued it. */
export type Credentials = z.infer<typeof credentials>;

/** The saved credential, or undefined when there is none or it cannot be read. */
export async function loadCredentials(path: string): Promise<Credentials | undefined> {
  try {
    const parsed = credentials.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Saves the credential readable by this user only: it is what the host acts with. */
export async function saveCredentials(path: string, c: Credentials): Promise<void> {
  await writePrivateFile(path, JSON.stringify(c, null, 2) + '\n');
}
