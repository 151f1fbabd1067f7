export * from './app.js';
export * from './bootstrap.js';
export { loadServerKey } from './server-key.js';
export { PEERS_SENT } from './app/peering.js';
