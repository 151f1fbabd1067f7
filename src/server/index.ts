export * from './app.js';
export * from './bootstrap.js';
export { PEERS_SENT } from './app/peering.js';
