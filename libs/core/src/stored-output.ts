import type { FunctionCallItem, Item, McpCallItem } from './items';
import { serverCallItemId } from './server-calls';
import { toolResultText, type ModelStepResult, type StepRecord } from './steps';

// A response's output is made of its top scope's steps: the model's items as its model steps
// returned them, and its server calls as their tool steps left them. Stored as such it would
// be written twice, once in the steps and once in the response's row. So the row keeps, for
// each item a step already holds, a reference to it instead (a StoredOutputRef), and Postgres
// puts the item back together on read (outputOf in libs/store/src/stored-output.sql.ts,
// migration 20261205060000_output_refs), with the same rules as `expandOutput` here. Anything
// else (an item the steps do not hold as such, output written before this) stays whole. A reference
// is only made to a step that no longer changes: a completed model step, or a tool step that
// completed with text. A step is named by its place in the top scope, `round:index` (its
// identity; a step's id is derived from it, an adopted copy keeps it), which takes a few
// bytes where its id takes 29.

/** An item of a model step's result: `result.output[k]` of the step at `$m` = `round:index:k`. */
export interface ModelItemRef {
  $m: string;
}

/**
 * A server call (mcp_call) whose call is item k of a model step's result, `$c` =
 * `round:index:k`. Its id, call_id and arguments come from that function call. `$t`
 * (`round:index`), when set, is the tool step that completed it with text: its status is
 * `completed`, its output that text and its error null. Without `$t` the item carries its
 * status, output and error itself.
 */
export interface ServerCallRef {
  $c: string;
  server_label: string;
  name: string;
  $t?: string;
  status?: McpCallItem['status'];
  output?: string | null;
  error?: string | null;
}

export type StoredOutputRef = ModelItemRef | ServerCallRef;

/** An element of a stored output: an item, or a reference to the step that holds it. */
export type StoredOutputElement = Item | StoredOutputRef;

/** The parts of a step an output reference reads. */
export type RefStep = Pick<
  StepRecord,
  'id' | 'round' | 'index' | 'kind' | 'status' | 'callId' | 'result'
>;

/**
 * The output to store for `output`, made of the scope's `steps`: each item that a step
 * holds as such becomes a reference to it. Every reference is checked: the element is
 * a reference only if `expandOutput` gives the very item back. Null when no item is
 * referenced: the output is stored as it is, and need not be sent twice.
 */
export function compactOutput(
  output: readonly Item[],
  steps: readonly RefStep[],
): StoredOutputElement[] | null {
  const byPlace = placesOf(steps);
  const holders = holdersOf(steps);
  let referenced = false;
  const stored = output.map((item): StoredOutputElement => {
    const ref = refOf(item, holders);
    if (ref === null || !expandsTo(ref, byPlace, item)) return item;
    referenced = true;
    return ref;
  });
  return referenced ? stored : null;
}

/**
 * The items of a stored output, references put back from the top scope's steps. A reference
 * to a step that is not there, or that does not hold what it names, is an error: the steps a
 * stored output names are never deleted without it.
 */
export function expandOutput(
  stored: readonly StoredOutputElement[],
  steps: readonly RefStep[],
): Item[] {
  const byPlace = placesOf(steps);
  return stored.map((element) => expandElement(element, byPlace));
}

type Places = ReadonlyMap<string, RefStep>;

function placesOf(steps: readonly RefStep[]): Places {
  return new Map(steps.map((step) => [`${step.round}:${step.index}`, step]));
}

/** The step and item a `round:index:k` place names. */
function itemPlace(place: string, steps: Places): { step: RefStep | undefined; k: number } {
  const [round, index, k] = place.split(':');
  return { step: steps.get(`${round}:${index}`), k: Number(k) };
}

function expandElement(element: StoredOutputElement, steps: Places): Item {
  if ('$m' in element) {
    const { step, k } = itemPlace(element.$m, steps);
    return modelItem(step, k);
  }
  if ('$c' in element) {
    const { step: modelStep, k } = itemPlace(element.$c, steps);
    const call = modelItem(modelStep, k);
    if (call.type !== 'function_call' || !modelStep) throw new Error('not a function call');
    const tool = element.$t === undefined ? undefined : steps.get(element.$t);
    const text = tool ? toolResultText(tool.result) : null;
    if (element.$t !== undefined && text === null) throw new Error('no text in tool step');
    return {
      type: 'mcp_call',
      id: serverCallItemId(call.id, modelStep.id),
      call_id: call.call_id,
      server_label: element.server_label,
      name: element.name,
      arguments: call.arguments,
      status: element.$t !== undefined ? 'completed' : (element.status ?? 'incomplete'),
      output: element.$t !== undefined ? text : (element.output ?? null),
      error: element.$t !== undefined ? null : (element.error ?? null),
    };
  }
  return element;
}

function expandsTo(ref: StoredOutputRef, steps: Places, item: Item): boolean {
  try {
    return jsonEqual(expandElement(ref, steps), item);
  } catch {
    return false;
  }
}

function modelItem(step: RefStep | undefined, k: number): Item {
  const item = step && isModelResult(step.result) ? step.result.output[k] : undefined;
  if (item === undefined) throw new Error(`output reference to a missing item ${k}`);
  return item;
}

/** Where the scope's steps hold what an output may show, by the id it shows it by. */
interface Holders {
  /** A model's item, by its id: its step's place and index in the result. */
  items: Map<string, string>;
  /** A server call, by its item's id: the function call's place, and the call. */
  calls: Map<string, { place: string; call: FunctionCallItem }>;
  /** Tool steps that completed with text, by call id. */
  tools: Map<string, RefStep[]>;
}

const SIMPLE_STEP_ID = /^step_[A-Za-z0-9]+$/;

function holdersOf(steps: readonly RefStep[]): Holders {
  const holders: Holders = { items: new Map(), calls: new Map(), tools: new Map() };
  for (const step of steps) {
    if (step.status !== 'completed') continue;
    if (step.kind !== 'model_call') {
      if (step.callId === null || toolResultText(step.result) === null) continue;
      holders.tools.set(step.callId, [...(holders.tools.get(step.callId) ?? []), step]);
      continue;
    }
    if (!isModelResult(step.result)) continue;
    step.result.output.forEach((item, k) => {
      const place = `${step.round}:${step.index}:${k}`;
      if ('id' in item && typeof item.id === 'string' && !holders.items.has(item.id)) {
        holders.items.set(item.id, place);
      }
      // The key Postgres takes of the step's id is its 12 characters after `step_`, which is
      // serverCallItemId's only for an id of letters and digits.
      if (item.type === 'function_call' && SIMPLE_STEP_ID.test(step.id)) {
        const id = serverCallItemId(item.id, step.id);
        if (!holders.calls.has(id)) holders.calls.set(id, { place, call: item });
      }
    });
  }
  return holders;
}

function refOf(item: Item, holders: Holders): StoredOutputRef | null {
  if (item.type === 'mcp_call') return serverCallRef(item, holders);
  if (!('id' in item) || typeof item.id !== 'string') return null;
  const place = holders.items.get(item.id);
  return place === undefined ? null : { $m: place };
}

function serverCallRef(item: McpCallItem, holders: Holders): ServerCallRef | null {
  const held = holders.calls.get(item.id);
  if (!held) return null;
  const base = { $c: held.place, server_label: item.server_label, name: item.name };
  const tool = (holders.tools.get(held.call.call_id) ?? []).find(
    (candidate) => toolResultText(candidate.result) === item.output,
  );
  if (tool && item.status === 'completed' && item.output !== null && item.error === null) {
    return { ...base, $t: `${tool.round}:${tool.index}` };
  }
  return { ...base, status: item.status, output: item.output, error: item.error };
}

function isModelResult(result: RefStep['result']): result is ModelStepResult {
  return (
    typeof result === 'object' &&
    result !== null &&
    Array.isArray((result as ModelStepResult).output)
  );
}

/** Equality of two values as JSON: keys in any order, undefined members absent. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((value, index) => jsonEqual(value, other[index]));
  }
  const left = definedEntries(a as Record<string, unknown>);
  const right = definedEntries(b as Record<string, unknown>);
  return (
    left.length === right.length &&
    left.every(
      ([key, value]) => Object.hasOwn(right.byKey, key) && jsonEqual(value, right.byKey[key]),
    )
  );
}

function definedEntries(
  value: Record<string, unknown>,
): [string, unknown][] & { byKey: Record<string, unknown> } {
  const entries = Object.entries(value).filter(([, member]) => member !== undefined);
  return Object.assign(entries, { byKey: Object.fromEntries(entries) });
}
