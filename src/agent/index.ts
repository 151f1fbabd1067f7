export * from './agent.js';
export { stopServicesLeft } from './leftover-process.js';
export { HostLayout } from './host-layout.js';
