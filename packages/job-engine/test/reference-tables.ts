// The two tables of docs/reference/job-semantics.md, transcribed by hand (§2.1 rows
// "from", §3 rows "verb"), columns in JobStatus enum order: U C R P Y S W D X E N. 1 = allowed.
// Kept apart from src/tables.ts on purpose: the tests compare the code against this copy.
export const statusColumns = [
  'undefined',
  'created',
  'running',
  'paused',
  'ready',
  'standby',
  'waiting',
  'pending',
  'aborting',
  'concluded',
  'null',
] as const;

export const referenceTransitions = `
  undefined  0 1 0 0 0 0 0 0 0 0 0
  created    0 0 1 0 0 0 0 0 1 0 1
  running    0 0 0 1 1 0 1 0 1 0 0
  paused     0 0 1 0 0 0 0 0 0 0 0
  ready      0 0 0 0 0 1 1 0 1 0 0
  standby    0 0 0 0 1 0 0 0 0 0 0
  waiting    0 0 0 0 0 0 0 1 1 0 0
  pending    0 0 0 0 0 0 0 0 1 1 0
  aborting   0 0 0 0 0 0 0 0 1 1 0
  concluded  0 0 0 0 0 0 0 0 0 0 1
  null       0 0 0 0 0 0 0 0 0 0 0
`;

export const referenceVerbs = `
  cancel     0 1 1 1 1 1 1 1 0 0 0
  pause      0 1 1 1 1 1 0 0 0 0 0
  resume     0 1 1 1 1 1 0 0 0 0 0
  set-speed  0 1 1 1 1 1 0 0 0 0 0
  complete   0 0 0 0 1 1 0 0 0 0 0
  finalize   0 0 0 0 0 0 0 1 0 0 0
  dismiss    0 0 0 0 0 0 0 0 0 1 0
`;

/** Row name → allowed per column. */
export function parseGrid(text: string): Map<string, boolean[]> {
  const rows = new Map<string, boolean[]>();
  for (const line of text.trim().split('\n')) {
    const [name, ...cells] = line.trim().split(/\s+/);
    rows.set(
      name as string,
      cells.map((c) => c === '1'),
    );
  }
  return rows;
}

export function referenceAllowsTransition(from: string, to: string): boolean {
  const column = statusColumns.indexOf(to as (typeof statusColumns)[number]);
  return parseGrid(referenceTransitions).get(from)?.[column] === true;
}

export function referenceAllowsVerb(verb: string, status: string): boolean {
  const column = statusColumns.indexOf(status as (typeof statusColumns)[number]);
  return parseGrid(referenceVerbs).get(verb)?.[column] === true;
}
