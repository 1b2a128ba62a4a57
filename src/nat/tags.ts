// The tags the NATs' failover agent (agent.sh) writes, for what reads them: the plan (who serves a
// zone, and since when), the NATs' IAM policy (the only tag keys the agent may write), and whoever
// waits for a NAT to be seen healthy (a rolling replacement). agent.sh spells the same keys; a unit
// test holds the two together.

export const AGENT_TAGS = {
  /** On a private route table, written at every switch by the agent that switched it. */
  routeTable: [
    /** The instance the zone's default route points at now. */
    'dupsworks:served-by',
    /** Its logical id (nat/<zone>). */
    'dupsworks:served-by-nat',
    /** Since when (ISO 8601, UTC). */
    'dupsworks:served-since',
    /** "failover: <why>", "revert: <why>" or "restore: <why>". */
    'dupsworks:switch',
    /** The instance whose agent made the switch. */
    'dupsworks:switched-by',
  ],
  /** On a NAT instance, written by its watcher once per change of what its probes through it say. */
  instance: [
    /** "ok" or "failing". */
    'dupsworks:health',
    /** The watcher's instance id. */
    'dupsworks:health-by',
    /** Since when (ISO 8601, UTC). */
    'dupsworks:health-since',
  ],
} as const;

export const SERVED_BY = AGENT_TAGS.routeTable[0];
export const SERVED_SINCE = AGENT_TAGS.routeTable[2];
