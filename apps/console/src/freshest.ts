/**
 * Reads of one view that may overlap (a reload on a notice while another read is under way)
 * and end in any order. What each yields is applied only if no read started after it has been
 * applied already: an older answer never replaces a newer one on the page. Without this, a
 * read started before a change could land after the read that saw it, and the page would show
 * the older state until the next reload.
 *
 * Returns what starts a read: pass it the read's promise.
 */
export function freshestReads<T>(
  apply: (value: T) => void,
  fail: (error: unknown) => void,
): (read: Promise<T>) => void {
  let started = 0;
  let applied = 0;
  return (read) => {
    const order = ++started;
    read.then(
      (value) => {
        if (order < applied) return;
        applied = order;
        apply(value);
      },
      (error: unknown) => {
        if (order < applied) return;
        fail(error);
      },
    );
  };
}
