/**
 * Finding something by a unique prefix of its id: the one rule for images, deployments and jobs. A
 * prefix must be long enough to be meant as one, and a prefix that several ids start with is
 * refused with the ids it matches, so the caller can pick one.
 */
import { SlipwayError } from '../../core/index.js';

/** The most matches an ambiguous prefix's error names. */
const SHOWN = 5;

export interface PrefixLookup {
  /** What is looked up, for messages: `image`, `deployment`. */
  kind: string;
  /** The fewest characters a prefix must have. */
  minLength: number;
  /** Ids that start with `prefix`, at most `limit`. */
  idsWithPrefix(prefix: string, limit: number): Promise<string[]>;
}

/** The one id that starts with `prefix`, or undefined when none does; an error when several do. */
export async function uniquePrefixMatch(
  lookup: PrefixLookup,
  prefix: string,
): Promise<string | undefined> {
  const { kind, minLength } = lookup;
  if (prefix.length < minLength) {
    throw new SlipwayError(
      'INVALID',
      `${kind} id prefix ${JSON.stringify(prefix)} is too short: give at least ${minLength} characters of the id`,
      { prefix, minLength },
    );
  }
  const ids = await lookup.idsWithPrefix(prefix, SHOWN + 1);
  if (ids.length <= 1) return ids[0];
  const shown = ids.slice(0, SHOWN);
  const more = ids.length > SHOWN ? ' and more' : '';
  throw new SlipwayError(
    'INVALID',
    `${kind} id prefix ${prefix} is ambiguous: it matches ${shown.join(', ')}${more}; give more characters of the id`,
    { prefix, matches: shown },
  );
}

/**
 * The full id a unique prefix of a UUID names (`ref` lowercased); NOT_FOUND, naming the verb
 * that lists them (`slipway jobs`), when none does.
 */
export async function idOfUuidPrefix(
  lookup: PrefixLookup,
  ref: string,
  listedBy: string,
): Promise<string> {
  const prefix = ref.toLowerCase();
  const id = /^[0-9a-f][0-9a-f-]*$/.test(prefix)
    ? await uniquePrefixMatch(lookup, prefix)
    : undefined;
  if (id === undefined) {
    throw new SlipwayError(
      'NOT_FOUND',
      `no ${lookup.kind} ${JSON.stringify(ref)}: give a ${lookup.kind} id or a unique prefix of one (${listedBy} lists them)`,
      { kind: lookup.kind, id: ref },
    );
  }
  return id;
}
