/** The last `capacity` event ids seen, oldest dropped first: dedupes across reconnects. */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 10000) {}

  /** Records `id`; false if it was already there. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      // A Set iterates in insertion order: the first is the oldest.
      const oldest = this.ids.values().next().value as string;
      this.ids.delete(oldest);
    }
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }
}
