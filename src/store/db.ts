/** The Kysely handle every repository runs on: the database, or the transaction it is bound to. */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

export type Db = Kysely<Database> | Transaction<Database>;
