import { shortId } from '../format';

/** The first few ids of what an action touched, linking to each response, and how many more. */
export function Samples({ ids, total }: { ids: string[]; total: number }) {
  const shown = ids.slice(0, 5);
  return (
    <span class="samples" data-testid="samples">
      {shown.map((id) => (
        <a key={id} href={`#/responses/${id}`}>
          <code>{shortId(id, 10)}</code>
        </a>
      ))}
      {total > shown.length && <span class="muted small">and {total - shown.length} more</span>}
    </span>
  );
}
