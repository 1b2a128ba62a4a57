// The lab's public surface, for the CLI, the demo, the bench and other harnesses' tests.

export { Lab, type LabDescription, type LabEvent, type LabOptions, type NatDescription, type ZoneDescription } from './lab.js';
export { API_ADDRESS, IMDS_ADDRESS, TEST_TARGETS, type LabZone } from './fabric.js';
export { whoami, ping, type Seen } from './probe.js';
export * as faults from './faults.js';
export { rerunBootParts } from './boot.js';
export { egress, type Egress } from './control.js';
