// The plan as text, in Terraform's manner: a symbol per action, the attributes that matter, the
// reason for each change, and one summary line. Then what the plan keeps back, and what carries
// the stack's mark without being any resource of the spec, with what to do about it.

import type { InventoryItem } from './inventory.js';
import type { AttributeChange } from './resource.js';
import { countActions, hasChanges, heldChanges, rolloutOf, type Change, type Plan } from './plan.js';
import { isUnknown } from './values.js';

export interface Style {
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

export const plainStyle: Style = { green: (t) => t, yellow: (t) => t, red: (t) => t, bold: (t) => t, dim: (t) => t };

export const colorStyle: Style = {
  green: (t) => `\x1b[32m${t}\x1b[0m`,
  yellow: (t) => `\x1b[33m${t}\x1b[0m`,
  red: (t) => `\x1b[31m${t}\x1b[0m`,
  bold: (t) => `\x1b[1m${t}\x1b[0m`,
  dim: (t) => `\x1b[2m${t}\x1b[0m`,
};

const HEADLINE: Record<Exclude<Change['action'], 'no-op'>, string> = {
  create: 'will be created',
  update: 'will be updated in-place',
  replace: 'must be replaced',
  delete: 'will be destroyed',
};

export function renderPlan(plan: Plan, style: Style = plainStyle, verb = 'apply'): string {
  const held = heldChanges(plan);
  const changes = hasChanges(plan);
  const notes = remarkLines(plan, style);
  if (!changes && held.length === 0 && plan.unclaimed.length === 0) {
    return `${notes.map((l) => `${l}\n`).join('')}${style.green(style.bold('No changes.'))} The stack matches the spec.\n`;
  }
  const symbol = {
    create: style.green('+'),
    update: style.yellow('~'),
    replace: `${style.red('-')}/${style.green('+')}`,
    delete: style.red('-'),
  };
  const lines: string[] = [];
  if (changes) lines.push(`dupsworks will perform the following actions (${verb}):`, '');
  for (const change of plan.changes) {
    if (change.action === 'no-op' || (change.action === 'delete' && change.heldBy)) continue;
    lines.push(`  ${style.bold(`# ${change.id}`)} ${HEADLINE[change.action]}${change.reason ? ` (${change.reason})` : ''}`);
    lines.push(`${change.action === 'replace' ? '' : '  '}${symbol[change.action]} ${change.kind} "${change.id}" {`);
    lines.push(...attributeLines(change, style).map((l) => `      ${l}`));
    lines.push('    }', '');
  }
  if (held.length > 0) {
    lines.push(`${style.yellow(style.bold('Kept:'))} still in use by what this spec does not manage, so deleting would fail:`, '');
    for (const c of held) {
      const what =
        c.action === 'replace' ? `the old one (${c.observed!.physicalId}) stays once its replacement is made` : c.observed!.physicalId;
      lines.push(`  ${style.bold(`# ${c.id}`)} ${style.dim('-')} ${what}; in use by ${c.heldBy!.join(', ')}`);
    }
    lines.push('');
  }
  lines.push(...rolloutLines(plan, style));
  lines.push(...unclaimedLines(plan.unclaimed, style));
  lines.push(...notes);
  if (changes) lines.push(summaryLine(plan, style));
  else if (held.length > 0) lines.push(`${style.bold('Nothing can be changed now:')} ${held.length} kept (see above).`);
  else lines.push(`${style.green(style.bold('No changes.'))} The stack matches the spec.`);
  return `${lines.join('\n')}\n`;
}

export function summaryLine(plan: Plan, style: Style = plainStyle): string {
  const { add, change, destroy } = countActions(plan);
  const held = heldChanges(plan).length;
  return `${style.bold('Plan:')} ${add} to add, ${change} to change, ${destroy} to destroy${held > 0 ? `; ${held} kept (see above)` : ''}.`;
}

// The order of a rollout and its gate; the repairs that go before it, together.
function rolloutLines(plan: Plan, style: Style): string[] {
  const rollout = rolloutOf(plan);
  if (!rollout) return [];
  const lines = [
    `${style.bold('Rollout:')} one at a time, in this order; each waits until its new one is ready before the next starts:`,
    '',
  ];
  if (rollout.repairsFirst.length > 0) lines.push(`  first, together (repairs): ${rollout.repairsFirst.join(', ')}`);
  rollout.steps.forEach((step, i) => lines.push(`  ${i + 1}. ${step.id}: ready when ${step.readyWhen}`));
  lines.push(
    '',
    '  Until its new one is ready, a step moves only what proves it; what it serves moves after, then the old one goes.',
    '  Not ready within --ready-timeout: the rollout stops there, that step keeps its old one serving and the later ones are',
    '  not touched; the next apply tries again.',
    '',
  );
  return lines;
}

// What the kinds remark on resources that need no change, such as a zone served after a failover.
function remarkLines(plan: Plan, style: Style): string[] {
  const remarks = plan.changes.filter((c) => c.remark);
  if (remarks.length === 0) return [];
  return [
    `${style.bold('Note:')} as it should be, though not as the spec first made it (nothing to change):`,
    '',
    ...remarks.map((c) => `  ${style.bold(`# ${c.id}`)}: ${c.remark}`),
    '',
  ];
}

// Items that share what to do are listed together, the advice once after them.
function unclaimedLines(unclaimed: readonly InventoryItem[], style: Style): string[] {
  if (unclaimed.length === 0) return [];
  const byAdvice = new Map<string, InventoryItem[]>();
  for (const item of unclaimed) byAdvice.set(item.advice, [...(byAdvice.get(item.advice) ?? []), item]);
  const lines = [
    `${style.yellow(style.bold('Warning:'))} found in this stack (by its tag, or inside its VPC), but no resource of this spec is any of ` +
      'them; dupsworks leaves them alone:',
    '',
  ];
  for (const [advice, items] of byAdvice) {
    lines.push(...items.map((item) => `  - ${item.description}`), `    ${advice}`, '');
  }
  return lines;
}

function attributeLines(change: Change, style: Style): string[] {
  if (change.action === 'create') {
    return aligned(Object.entries(change.preview ?? {}).map(([k, v]) => [`${style.green('+')} ${k}`, formatValue(v)]));
  }
  if (change.action === 'delete') {
    return aligned([[`${style.red('-')} id`, formatValue(change.observed!.physicalId)]]);
  }
  const rows = change.attributes.map((a): [string, string] => [`${style.yellow('~')} ${a.path}`, describe(a, style)]);
  return [...aligned([[`  id`, formatValue(change.observed!.physicalId)], ...rows])];
}

function describe(a: AttributeChange, style: Style): string {
  const text = `${formatValue(a.before)} -> ${formatValue(a.after)}`;
  const notes = [a.forcesReplacement ? style.red('forces replacement') : '', a.reason ?? ''].filter(Boolean);
  return notes.length > 0 ? `${text} ${style.dim('#')} ${notes.join(': ')}` : text;
}

function aligned(rows: [string, string][]): string[] {
  // eslint-disable-next-line no-control-regex
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const width = Math.max(0, ...rows.map(([k]) => visible(k)));
  return rows.map(([k, v]) => `${k}${' '.repeat(width - visible(k))} = ${v}`);
}

export function formatValue(value: unknown): string {
  if (isUnknown(value)) return '(known after apply)';
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => `${/^[A-Za-z_][\w-]*$/.test(k) ? k : JSON.stringify(k)} = ${formatValue(v)}`);
    return `{ ${entries.join(', ')} }`;
  }
  return String(value);
}
