/**
 * A small typed event emitter. `on()` returns the function that unsubscribes, so
 * UI code can keep one handle per listener and drop it when a view goes away.
 *
 * A listener that throws must not stop the others, nor leave the SDK's sync or
 * outbox half-updated, so its error is rethrown on a fresh task: the host reports
 * it as uncaught (the browser console, Node's uncaughtException), as it would for
 * a DOM event listener.
 */

export type Listener<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<K extends keyof Events>(name: K, fn: Listener<Events[K]>): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn as Listener<never>);
    return () => {
      set.delete(fn as Listener<never>);
    };
  }

  /** Like on(), for one call only. */
  once<K extends keyof Events>(name: K, fn: Listener<Events[K]>): () => void {
    const off = this.on(name, (payload) => {
      off();
      fn(payload);
    });
    return off;
  }

  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const set = this.listeners.get(name);
    if (set === undefined) {
      return;
    }
    // A copy: a listener may unsubscribe itself or others while we loop.
    for (const fn of [...set]) {
      try {
        (fn as Listener<Events[K]>)(payload);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }

  listenerCount(name: keyof Events): number {
    return this.listeners.get(name)?.size ?? 0;
  }
}
