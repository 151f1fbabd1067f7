/** One server key for the in-process servers of a test run (replicas of one database share it). */
import { randomBytes } from 'node:crypto';

export const TEST_SERVER_KEY = randomBytes(32);
