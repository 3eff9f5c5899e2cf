/** Cursor pages of the API: `{results, next, previous}` with opaque cursors in `next`. */

export interface Page<T> {
  results: T[];
  next?: string | null;
  previous?: string | null;
}

/** The opaque cursor of a `next`/`previous` URL (absolute or relative), or null. */
export function cursorOf(link: string | null | undefined): string | null {
  if (!link) return null;
  const url = new URL(link, "http://placeholder.invalid");
  return url.searchParams.get("cursor");
}

/**
 * Accumulates pages for a "more" button: each `load` fetches the page after the last
 * one, appends what is new (by id; a row that moved between pages is not shown twice),
 * and remembers whether there is more.
 */
export class CursorPager<T extends { id: number }> {
  items: T[] = [];
  private cursor: string | null = null;
  private done = false;
  private seen = new Set<number>();

  constructor(private readonly fetchPage: (cursor: string | null) => Promise<Page<T>>) {}

  get hasMore(): boolean {
    return !this.done;
  }

  async load(): Promise<T[]> {
    if (this.done) return this.items;
    const page = await this.fetchPage(this.cursor);
    const fresh = page.results.filter((item) => !this.seen.has(item.id));
    fresh.forEach((item) => this.seen.add(item.id));
    this.items = [...this.items, ...fresh];
    this.cursor = cursorOf(page.next);
    this.done = this.cursor === null;
    return this.items;
  }
}
