/**
 * A first-in first-out queue whose shift() is O(1) at any length. Array.prototype.shift is O(1)
 * only while V8 can trim the array's store in place; past ~16k elements (a store in large-object
 * space) every shift moves the whole array: measured 0.3 us per push + shift at 10k elements and
 * 66 us at 50k. A backlog (frames waiting behind a busy server, events held for a resync) grows
 * exactly when the server can least afford that.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  /** The oldest element, left in place; undefined when empty. */
  first(): T | undefined {
    return this.items[this.head];
  }

  /** Removes and returns the oldest element (undefined when empty). */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    // The consumed prefix is dropped once it is half the store: amortised O(1), memory bounded by 2x.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  /** Everything held, oldest first; the queue is left empty (its memory released). */
  drain(): T[] {
    const out = (this.head === 0 ? this.items : this.items.slice(this.head)) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}
